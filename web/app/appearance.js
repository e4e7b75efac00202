// Meridian demo page: how avatars and elements look: palette colours, display
// names and catalogue images (only ever from this origin).

import { state } from './state.js';

const PALETTE = ['#4fa3ff', '#ff8a5b', '#3ecf8e', '#f0b429', '#c084fc', '#ff6b9a', '#2dd4bf', '#a3e635'];

export function colourOf(n) {
  const i = Math.abs(Math.trunc(Number(n) || 0));
  return i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 47) % 360} 65% 62%)`;
}

export function displayName(entity) {
  return entity.name || (entity.self && state.user ? state.user.username : `#${entity.id}`);
}

/** True for URLs the page may load without reaching another site. */
export function localUrl(url) {
  if (typeof url !== 'string' || !url) return false;
  try {
    const parsed = new URL(url, location.href);
    return parsed.origin === location.origin || parsed.protocol === 'data:' || parsed.protocol === 'blob:';
  } catch {
    return false;
  }
}

const images = new Map();

export function imageFor(url) {
  if (images.has(url)) return images.get(url);
  let image = null;
  if (localUrl(url)) {
    image = new Image();
    image.decoding = 'async';
    image.src = url;
  }
  images.set(url, image);
  return image;
}

/** Catalogue image URLs by avatar id: an avatar's `appearance` is the id its player chose. */
const avatarImages = new Map();

/** Keeps the picker's catalogue for drawing, and starts loading its images. */
export function rememberAvatarImages(avatars) {
  avatarImages.clear();
  for (const avatar of avatars) {
    if (!localUrl(avatar.imageUrl)) continue;
    avatarImages.set(Number(avatar.id), avatar.imageUrl);
    imageFor(avatar.imageUrl);
  }
}

/** The loaded catalogue image for an appearance, or null (then the palette circle). */
export function avatarImage(appearance) {
  const url = avatarImages.get(appearance);
  const image = url ? imageFor(url) : null;
  return image && image.complete && image.naturalWidth > 0 ? image : null;
}
