/** A small time series drawn on a canvas (no library: a polyline and a fill). */

export function sparkline(canvas: HTMLCanvasElement, values: readonly number[], points: number): void {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const g = canvas.getContext('2d');
  if (g === null) return;
  g.clearRect(0, 0, w, h);
  if (values.length === 0) return;
  const max = Math.max(1e-9, ...values);
  const step = w / Math.max(1, points - 1);
  const x0 = w - (values.length - 1) * step;
  const y = (v: number): number => h - 1 - (v / max) * (h - 2);
  const accent = getComputedStyle(canvas).getPropertyValue('--accent').trim() || '#1f6feb';
  g.beginPath();
  g.moveTo(x0, h);
  values.forEach((v, i) => g.lineTo(x0 + i * step, y(v)));
  g.lineTo(x0 + (values.length - 1) * step, h);
  g.closePath();
  g.globalAlpha = 0.15;
  g.fillStyle = accent;
  g.fill();
  g.globalAlpha = 1;
  g.beginPath();
  values.forEach((v, i) => (i === 0 ? g.moveTo(x0, y(v)) : g.lineTo(x0 + i * step, y(v))));
  g.strokeStyle = accent;
  g.lineWidth = Math.max(1, dpr);
  g.stroke();
}
