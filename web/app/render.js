// Meridian demo page: drawing the space on the canvas, once per animation frame.

import { idleIntent, state } from './state.js';
import { el } from './dom.js';
import { avatarImage, colourOf, displayName, imageFor } from './appearance.js';
import { session } from './session.js';
import { keys } from './input.js';

const AVATAR_RADIUS = 0.3; // m, the server's default avatar_radius

export function frame(current, now) {
  if (session !== current) return;
  current.frame = requestAnimationFrame((t) => frame(current, t));
  try {
    current.entities = current.client.sample(now) ?? [];
  } catch {
    current.entities = [];
  }
  const dt = current.lastFrameAt ? Math.min(0.1, (now - current.lastFrameAt) / 1000) : 0;
  current.lastFrameAt = now;
  draw(current, dt);
}

function draw(current, dt) {
  const canvas = el.canvas;
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);

  const zoneW = state.connection?.zoneWidth || current.space.width || 0;
  const zoneH = state.connection?.zoneHeight || current.space.height || 0;
  const entities = current.entities;
  const self = entities.find((e) => e.self);

  // Seed the idle heading from the avatar's own, so standing still keeps it.
  if (self && !current.headingSeeded && keys.size === 0) {
    current.headingSeeded = true;
    state.intent = idleIntent(self.heading);
  }

  // Camera: follow the own avatar, else look at the middle of the zone.
  const camera = current.camera;
  const targetX = self ? self.x : zoneW / 2;
  const targetY = self ? self.y : zoneH / 2;
  if (!camera.ready || !self) {
    camera.x = targetX;
    camera.y = targetY;
    camera.ready = Boolean(self);
  } else {
    const follow = 1 - Math.exp(-dt * 8);
    camera.x += (targetX - camera.x) * follow;
    camera.y += (targetY - camera.y) * follow;
  }
  const scale = camera.zoom;
  const sx = (x) => (x - camera.x) * scale + width / 2;
  const sy = (y) => (y - camera.y) * scale + height / 2;

  // Background and floor.
  ctx.fillStyle = '#0a0d10';
  ctx.fillRect(0, 0, width, height);
  if (zoneW > 0 && zoneH > 0) {
    ctx.fillStyle = '#131a21';
    ctx.fillRect(sx(0), sy(0), zoneW * scale, zoneH * scale);
  }

  drawGrid(ctx, { width, height, scale, camera, zoneW, zoneH, sx, sy });

  if (zoneW > 0 && zoneH > 0) {
    ctx.strokeStyle = '#4a5a70';
    ctx.lineWidth = 2;
    ctx.strokeRect(sx(0), sy(0), zoneW * scale, zoneH * scale);
  }

  // Placed elements, as the snapshots have them (x, y is the footprint's
  // centre, in metres): under the avatars, and as they change while we play.
  for (const e of entities) {
    if (e.kind !== 'Element' || !e.footprint) continue;
    const { width: fw, height: fh, blocking } = e.footprint;
    const x = sx(e.x - fw / 2);
    const y = sy(e.y - fh / 2);
    const w = Math.max(1, fw * scale);
    const h = Math.max(1, fh * scale);
    if (x > width || y > height || x + w < 0 || y + h < 0) continue;
    const element = current.space.catalogue.get(e.appearance);
    const image = element?.imageUrl ? imageFor(element.imageUrl) : null;
    if (image && image.complete && image.naturalWidth > 0) {
      ctx.drawImage(image, x, y, w, h);
    } else {
      ctx.fillStyle = blocking ? '#2a3442' : 'rgba(192, 132, 252, 0.16)';
      ctx.fillRect(x, y, w, h);
      ctx.strokeStyle = blocking ? '#56667d' : '#a778d8';
      ctx.lineWidth = 1;
      ctx.setLineDash(blocking ? [] : [4, 3]);
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
      ctx.setLineDash([]);
    }
  }

  // Entities: others first, own avatar on top.
  const ordered = [...entities].sort((a, b) => Number(Boolean(a.self)) - Number(Boolean(b.self)));
  const radius = Math.max(6, AVATAR_RADIUS * scale);
  for (const e of ordered) {
    if (e.kind === 'Element' && e.footprint) continue; // drawn above
    const x = sx(e.x);
    const y = sy(e.y);
    if (x < -60 || y < -60 || x > width + 60 || y > height + 60) continue;
    if (e.kind && e.kind !== 'Avatar') {
      drawThing(ctx, e, x, y, radius);
      continue;
    }
    drawAvatar(ctx, e, x, y, radius);
  }
  // Labels last, so no circle hides a name.
  ctx.font = '600 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.lineJoin = 'round';
  for (const e of ordered) {
    if (e.kind && e.kind !== 'Avatar') continue;
    const x = sx(e.x);
    const y = sy(e.y);
    if (x < -100 || y < -40 || x > width + 100 || y > height + 40) continue;
    const label = e.self ? `${displayName(e)} (you)` : displayName(e);
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'rgba(10, 13, 16, 0.9)';
    ctx.strokeText(label, x, y - radius - 6);
    ctx.fillStyle = e.self ? '#ffffff' : '#d6dce4';
    ctx.fillText(label, x, y - radius - 6);
  }

  if (!self && state.status.kind === 'connected') {
    ctx.fillStyle = '#8f99a8';
    ctx.font = '14px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText('Waiting for the first snapshot…', width / 2, height / 2);
  }
}

function drawGrid(ctx, { width, height, scale, camera, zoneW, zoneH, sx, sy }) {
  const step = scale >= 14 ? 1 : 5;
  const major = step === 1 ? 5 : 25;
  const left = camera.x - width / 2 / scale;
  const right = camera.x + width / 2 / scale;
  const top = camera.y - height / 2 / scale;
  const bottom = camera.y + height / 2 / scale;
  const bounded = zoneW > 0 && zoneH > 0;
  const x0 = Math.max(bounded ? 0 : -Infinity, Math.floor(left / step) * step);
  const x1 = Math.min(bounded ? zoneW : Infinity, right);
  const y0 = Math.max(bounded ? 0 : -Infinity, Math.floor(top / step) * step);
  const y1 = Math.min(bounded ? zoneH : Infinity, bottom);
  const lineTop = sy(Math.max(bounded ? 0 : top, top));
  const lineBottom = sy(Math.min(bounded ? zoneH : bottom, bottom));
  const lineLeft = sx(Math.max(bounded ? 0 : left, left));
  const lineRight = sx(Math.min(bounded ? zoneW : right, right));
  for (const isMajor of [false, true]) {
    ctx.beginPath();
    for (let x = Math.ceil(x0 / step) * step; x <= x1; x += step) {
      if ((Math.round(x) % major === 0) !== isMajor) continue;
      const px = Math.round(sx(x)) + 0.5;
      ctx.moveTo(px, lineTop);
      ctx.lineTo(px, lineBottom);
    }
    for (let y = Math.ceil(y0 / step) * step; y <= y1; y += step) {
      if ((Math.round(y) % major === 0) !== isMajor) continue;
      const py = Math.round(sy(y)) + 0.5;
      ctx.moveTo(lineLeft, py);
      ctx.lineTo(lineRight, py);
    }
    ctx.strokeStyle = isMajor ? 'rgba(120, 140, 165, 0.28)' : 'rgba(120, 140, 165, 0.1)';
    ctx.lineWidth = 1;
    ctx.stroke();
  }
}

function drawAvatar(ctx, e, x, y, radius) {
  const colour = colourOf(e.appearance);
  if (e.self) {
    ctx.beginPath();
    ctx.arc(x, y, radius + 7, 0, Math.PI * 2);
    ctx.fillStyle = 'rgba(79, 163, 255, 0.18)';
    ctx.fill();
  }
  // Heading marker: a small wedge in front of the circle.
  const heading = Number.isFinite(e.heading) ? e.heading : 0;
  const cos = Math.cos(heading);
  const sin = Math.sin(heading);
  const tip = radius + Math.max(5, radius * 0.7);
  const side = radius * 0.55;
  ctx.beginPath();
  ctx.moveTo(x + cos * tip, y + sin * tip);
  ctx.lineTo(x + cos * radius * 0.6 - sin * side, y + sin * radius * 0.6 + cos * side);
  ctx.lineTo(x + cos * radius * 0.6 + sin * side, y + sin * radius * 0.6 - cos * side);
  ctx.closePath();
  ctx.fillStyle = e.self ? '#ffffff' : '#c9d2dd';
  ctx.fill();

  ctx.beginPath();
  ctx.arc(x, y, radius, 0, Math.PI * 2);
  ctx.fillStyle = colour;
  ctx.fill();
  const image = avatarImage(e.appearance);
  if (image) {
    ctx.save();
    ctx.clip();
    ctx.drawImage(image, x - radius, y - radius, radius * 2, radius * 2);
    ctx.restore(); // the circle path stays, for the outline below
  }
  ctx.lineWidth = e.self ? 3 : 1.5;
  ctx.strokeStyle = e.self ? '#ffffff' : 'rgba(10, 13, 16, 0.8)';
  ctx.stroke();

  if (e.animation === 'Run') {
    ctx.beginPath();
    ctx.arc(x, y, radius * 0.35, 0, Math.PI * 2);
    ctx.fillStyle = 'rgba(255, 255, 255, 0.7)';
    ctx.fill();
  }
}

function drawThing(ctx, e, x, y, radius) {
  const size = radius * 1.6;
  ctx.fillStyle = e.kind === 'Npc' ? '#8f99a8' : '#a778d8';
  ctx.strokeStyle = 'rgba(10, 13, 16, 0.8)';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  if (e.kind === 'Npc') {
    ctx.moveTo(x, y - size / 1.2);
    ctx.lineTo(x + size / 1.2, y);
    ctx.lineTo(x, y + size / 1.2);
    ctx.lineTo(x - size / 1.2, y);
    ctx.closePath();
  } else {
    ctx.rect(x - size / 2, y - size / 2, size, size);
  }
  ctx.fill();
  ctx.stroke();
}
