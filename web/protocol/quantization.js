// Meridian wire protocol: quantization (section 11.2 of docs/PROTOCOL.md).
// Positions travel in 1/64 m steps over 20 bits, headings in 1/1024 turn over
// 10 bits; these convert between them and metres and radians.

export const POSITION_BITS = 20;
export const POSITION_MAX = 2 ** POSITION_BITS - 1;
export const HEADING_BITS = 10;
export const HEADING_STEPS = 2 ** HEADING_BITS;

// ---------------------------------------------------------------------------
// Quantization (section 11.2)
// ---------------------------------------------------------------------------

/** Position steps (1/64 m) to metres. @param {number} steps */
export function dequantizePosition(steps) {
  return steps / 64;
}

/** Heading step (1/1024 turn) to radians in [0, 2π). @param {number} step */
export function dequantizeHeading(step) {
  return ((step % HEADING_STEPS) / HEADING_STEPS) * 2 * Math.PI;
}

/** Metres to position steps, rounded and clamped; NaN gives 0. @param {number} metres */
export function quantizePosition(metres) {
  const steps = Math.round(metres * 64);
  return Number.isNaN(steps) || steps <= 0 ? 0 : Math.min(steps, POSITION_MAX);
}

/** Radians to a heading step in 0..1023; NaN or infinity gives 0. @param {number} radians */
export function quantizeHeading(radians) {
  if (!Number.isFinite(radians)) return 0;
  const turn = 2 * Math.PI;
  const wrapped = ((radians % turn) + turn) % turn;
  return Math.round((wrapped / turn) * HEADING_STEPS) % HEADING_STEPS;
}
