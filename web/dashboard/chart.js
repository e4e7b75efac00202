// A line chart on a canvas: a title, a y axis from 0 to the highest value
// shown, one coloured line per series, and a legend with each line's last value.

const COLOURS = ['#5fb3ff', '#ffb35f', '#7ddc8a', '#ff6b6b', '#c38bff', '#ffd95f', '#5fffe0', '#ff8bd1', '#b0b8c4'];

/** A number as the chart writes it: 3 significant figures, k / M for large ones. */
export function shortNumber(value) {
  if (value == null || !Number.isFinite(value)) return '–';
  const size = Math.abs(value);
  if (size >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (size >= 1e4) return `${(value / 1e3).toPrecision(3)}k`;
  if (size >= 100 || value === 0) return value.toFixed(0);
  return value.toPrecision(3);
}

/**
 * Draws `lines` ([{label, values}]) on `canvas` under `title`; `keep` is how
 * many points the x axis spans (the newest on the right).
 */
export function drawChart(canvas, title, lines, keep) {
  const context = canvas.getContext('2d');
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  context.font = '12px system-ui, sans-serif';
  context.fillStyle = '#d8dee8';
  context.fillText(title, 8, 14);

  const legendRows = Math.ceil(lines.length / 2);
  const top = 22 + legendRows * 14;
  const bottom = height - 16;
  const left = 44;
  const right = width - 8;
  let highest = 0;
  for (const line of lines) {
    for (const value of line.values) if (value != null && Number.isFinite(value)) highest = Math.max(highest, value);
  }
  const ceiling = highest > 0 ? highest * 1.1 : 1;

  // Axis and grid.
  context.strokeStyle = '#2a3340';
  context.fillStyle = '#8a96a8';
  context.lineWidth = 1;
  for (let step = 0; step <= 4; step += 1) {
    const y = bottom - ((bottom - top) * step) / 4;
    context.beginPath();
    context.moveTo(left, y);
    context.lineTo(right, y);
    context.stroke();
    context.fillText(shortNumber((ceiling * step) / 4), 4, y + 4);
  }
  context.fillText(`last ${keep} s`, right - 60, height - 3);

  lines.forEach((line, index) => {
    const colour = COLOURS[index % COLOURS.length];
    context.strokeStyle = colour;
    context.lineWidth = 1.5;
    context.beginPath();
    let drawing = false;
    const offset = keep - line.values.length;
    line.values.forEach((value, at) => {
      if (value == null || !Number.isFinite(value)) {
        drawing = false;
        return;
      }
      const x = left + ((right - left) * (offset + at)) / Math.max(1, keep - 1);
      const y = bottom - ((bottom - top) * value) / ceiling;
      if (drawing) context.lineTo(x, y);
      else context.moveTo(x, y);
      drawing = true;
    });
    context.stroke();
    // Legend: two columns.
    const column = index % 2;
    const row = Math.floor(index / 2);
    const x = 8 + column * (width / 2);
    const y = 30 + row * 14;
    context.fillStyle = colour;
    context.fillRect(x, y - 8, 10, 3);
    context.fillStyle = '#d8dee8';
    const last = [...line.values].reverse().find((value) => value != null);
    context.fillText(`${line.label}: ${shortNumber(last)}`, x + 14, y - 2);
  });
}
