(function(){
'use strict';
function cellValue(row, i){
  var c = row.cells[i]; if (!c) return '';
  var v = c.getAttribute('data-v');
  if (v !== null && v !== '' && !isNaN(Number(v))) return Number(v);
  return c.textContent;
}
function sortBy(table, th, i){
  var body = table.tBodies[0]; if (!body) return;
  var asc = !th.classList.contains('asc');
  Array.prototype.forEach.call(th.parentNode.cells, function(h){h.classList.remove('asc','desc');});
  th.classList.add(asc ? 'asc' : 'desc');
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function(a, b){
    var x = cellValue(a, i), y = cellValue(b, i);
    var r = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
    return asc ? r : -r;
  });
  rows.forEach(function(r){ body.appendChild(r); });
}
document.querySelectorAll('table.sortable').forEach(function(table){
  var head = table.tHead; if (!head) return;
  Array.prototype.forEach.call(head.rows[0].cells, function(th, i){
    th.addEventListener('click', function(){ sortBy(table, th, i); });
  });
});
function zoomable(frame){
  var svg = frame.querySelector('svg'); if (!svg) return;
  var full = svg.viewBox.baseVal; var W = full.width, H = full.height;
  var vb = {x: 0, y: 0, w: W, h: H};
  function apply(){ svg.setAttribute('viewBox', vb.x+' '+vb.y+' '+vb.w+' '+vb.h); }
  function aspect(){ var r = svg.getBoundingClientRect(); return r.width > 0 ? r.height / r.width : H / W; }
  function start(){
    // natural size (never magnified past 1:1), top-left first; a figure meant to fit shows whole
    var r = svg.getBoundingClientRect(); var s = Math.min(r.width / W, 1);
    if (frame.dataset.fit) { svg.style.height = (r.width * H / W) + 'px'; vb = {x: 0, y: 0, w: W, h: H}; apply(); return; }
    svg.style.height = Math.min(640, Math.max(200, H * s)) + 'px';
    var a = aspect(); vb = {x: 0, y: 0, w: r.width / s, h: r.width / s * a}; apply();
  }
  function fit(){ var a = aspect(); if (H / W > a) { vb = {x: -(H / a - W) / 2, y: 0, w: H / a, h: H}; }
    else { vb = {x: 0, y: -(W * a - H) / 2, w: W, h: W * a}; } apply(); }
  function zoom(f, cx, cy){ vb.x = cx - (cx - vb.x) * f; vb.y = cy - (cy - vb.y) * f; vb.w *= f; vb.h *= f; apply(); }
  function toSvg(ev){ var r = svg.getBoundingClientRect();
    return [vb.x + (ev.clientX - r.left) / r.width * vb.w, vb.y + (ev.clientY - r.top) / r.height * vb.h]; }
  svg.addEventListener('wheel', function(ev){ ev.preventDefault(); var p = toSvg(ev);
    zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, p[0], p[1]); }, {passive: false});
  var drag = null;
  svg.addEventListener('pointerdown', function(ev){ drag = {x: ev.clientX, y: ev.clientY, vx: vb.x, vy: vb.y};
    svg.classList.add('dragging'); if (svg.setPointerCapture) svg.setPointerCapture(ev.pointerId); });
  svg.addEventListener('pointermove', function(ev){ if (!drag) return; var r = svg.getBoundingClientRect();
    vb.x = drag.vx - (ev.clientX - drag.x) / r.width * vb.w; vb.y = drag.vy - (ev.clientY - drag.y) / r.height * vb.h; apply(); });
  function end(){ drag = null; svg.classList.remove('dragging'); }
  svg.addEventListener('pointerup', end); svg.addEventListener('pointercancel', end);
  frame.querySelectorAll('button[data-z]').forEach(function(b){
    b.addEventListener('click', function(){ var z = b.getAttribute('data-z');
      if (z === 'fit') fit(); else if (z === 'top') start();
      else zoom(z === 'in' ? 1 / 1.4 : 1.4, vb.x + vb.w / 2, vb.y + vb.h / 2); });
  });
  start();
}
document.querySelectorAll('.frame.zoom').forEach(zoomable);
})();
