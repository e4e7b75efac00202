// The world from above: the density grid as a heat map (avatars per cell),
// then each zone's border labelled with its id, the shard that owns it and
// its avatars. World coordinates have y up; the canvas draws y = 0 at the bottom.

/** A cell's colour for `share` (0..1 of the busiest cell): dark blue to yellow. */
function heat(share) {
  const hue = 230 - 180 * share;
  const light = 18 + 42 * share;
  return `hsl(${hue}, 85%, ${light}%)`;
}

/** Whose a zone is, as the map labels it. */
export function ownerLabel(zone) {
  if (zone.owner === 'here') return zone.ownerShard == null ? 'this server' : `shard ${zone.ownerShard} (this one)`;
  if (zone.owner === 'shard') return `shard ${zone.ownerShard}`;
  return 'no owner';
}

/** Draws `world` (the dashboard's `world` sample) on `canvas`. */
export function drawWorld(canvas, world) {
  const context = canvas.getContext('2d');
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  if (!world) {
    context.fillStyle = '#8a96a8';
    context.fillText('no sample yet', 8, 16);
    return;
  }
  const margin = 4;
  const scale = Math.min((width - 2 * margin) / world.width, (height - 2 * margin) / world.height);
  const toX = (x) => margin + x * scale;
  const toY = (y) => height - margin - y * scale;

  context.fillStyle = '#0b0e13';
  context.fillRect(toX(0), toY(world.height), world.width * scale, world.height * scale);

  const { columns, rows, cellSize, counts } = world.density;
  const busiest = Math.max(0, ...counts);
  for (let row = 0; row < rows; row += 1) {
    for (let column = 0; column < columns; column += 1) {
      const count = counts[row * columns + column];
      if (!count) continue;
      context.fillStyle = heat(busiest > 0 ? count / busiest : 0);
      const x0 = column * cellSize;
      const y0 = row * cellSize;
      const x1 = Math.min(world.width, x0 + cellSize);
      const y1 = Math.min(world.height, y0 + cellSize);
      context.fillRect(toX(x0), toY(y1), (x1 - x0) * scale, (y1 - y0) * scale);
    }
  }

  context.font = '11px system-ui, sans-serif';
  for (const zone of world.zones) {
    const left = toX(zone.x);
    const top = toY(zone.y + zone.height);
    context.strokeStyle = zone.owner === 'nobody' ? '#ff6b6b' : '#d8dee8';
    context.lineWidth = 1.5;
    context.setLineDash(zone.owner === 'here' ? [] : [6, 4]);
    context.strokeRect(left, top, zone.width * scale, zone.height * scale);
    context.setLineDash([]);
    context.fillStyle = 'rgba(16, 20, 26, 0.75)';
    context.fillRect(left + 3, top + 3, 150, 30);
    context.fillStyle = '#d8dee8';
    context.fillText(`zone ${zone.id} · ${ownerLabel(zone)}`, left + 6, top + 15);
    context.fillText(`${zone.avatars} avatars`, left + 6, top + 28);
  }
  context.fillStyle = '#8a96a8';
  context.fillText(`busiest cell: ${busiest} (${cellSize.toFixed(1)} m)`, margin + 4, height - margin - 4);
}
