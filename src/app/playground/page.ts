/**
 * The playground at GET /: one self-contained page (no build step, no external requests) that uses the public API —
 * /v1/models, /v1/labelsets, /v1/classify, /v1/preprocess and /v1/embeddings — as any client would. Its script avoids template
 * literals so that it can live in this string.
 */
export const PLAYGROUND_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-clip playground</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { max-width: 860px; margin: 0 auto; padding: 1.2rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; }
  .muted { color: #667; font-size: .9rem; }
  .card { background: #fff; border: 1px solid #dde1e7; border-radius: 10px; padding: 1rem; margin: 1rem 0; }
  #random { display: none; background: #fff3cd; border: 1px solid #e0c36a; border-radius: 8px; padding: .6rem .8rem; }
  #drop { border: 2px dashed #9aa4b5; border-radius: 10px; padding: 1.2rem; text-align: center; cursor: pointer; }
  #drop.over { background: #eef3ff; border-color: #4a6cf7; }
  /* The pixels as stored, as the model reads them by default (no EXIF rotation). */
  #preview { max-width: 100%; max-height: 260px; display: none; border-radius: 6px; image-orientation: none; }
  .pair { display: flex; gap: 1rem; align-items: flex-start; flex-wrap: wrap; margin-top: .6rem; }
  #frame { position: relative; display: inline-block; line-height: 0; }
  #cropbox { position: absolute; display: none; border: 2px solid #f0a; box-sizing: border-box; pointer-events: none; }
  #model-input { display: none; width: 160px; height: 160px; image-rendering: pixelated; border-radius: 6px; }
  figure { margin: 0; }
  figcaption { font-size: .8rem; color: #667; margin-top: .3rem; line-height: 1.2; }
  video { max-width: 100%; display: none; border-radius: 6px; }
  label { display: block; margin: .5rem 0 .2rem; font-weight: 600; font-size: .9rem; }
  input[type=text], select { width: 100%; padding: .45rem; border: 1px solid #c5cbd6; border-radius: 6px; box-sizing: border-box; }
  input[type=number] { width: 5rem; padding: .4rem; }
  button { padding: .45rem .9rem; border: 0; border-radius: 6px; background: #4a6cf7; color: #fff; cursor: pointer; margin-top: .5rem; }
  button.secondary { background: #e4e8f0; color: #1d2330; }
  .row { display: flex; gap: .8rem; align-items: end; flex-wrap: wrap; }
  .row > div { flex: 1; min-width: 12rem; }
  ol#results { list-style: none; padding: 0; }
  ol#results li { margin: .35rem 0; }
  .bar { height: .55rem; background: #4a6cf7; border-radius: 4px; }
  .line { display: flex; justify-content: space-between; font-size: .95rem; }
  #timings, #error { font-size: .85rem; }
  #error { color: #a11; white-space: pre-wrap; }
  #similarity { font-size: 1.3rem; font-weight: 600; }
</style>
</head>
<body>
<h1>edge-clip playground</h1>
<div class="muted" id="model">loading the model description…</div>
<div id="random">⚠️ This build has <b>random weights</b>: its labels and similarities are meaningless. Build the real model
  (npm start with the Hugging Face Hub reachable) to see CLIP's answers.</div>

<div class="card">
  <div id="drop" tabindex="0">Drop an image here, paste one, or <u>choose a file</u>
    <input id="file" type="file" accept="image/*" hidden>
  </div>
  <button class="secondary" id="camera" type="button" hidden>Use the camera</button>
  <button id="snap" type="button" hidden>Take the picture</button>
  <video id="video" autoplay playsinline></video>
  <div class="pair">
    <figure><div id="frame"><img id="preview" alt="the image being classified"><div id="cropbox"></div></div>
      <figcaption>the image; the box is what the model keeps</figcaption></figure>
    <figure><img id="model-input" alt="what the model sees"><figcaption id="model-input-caption"></figcaption></figure>
  </div>
  <div class="row">
    <div><label for="labelset">Stored label set</label><select id="labelset"><option value="">(type labels instead)</option></select></div>
    <div><label for="labels">Labels, comma-separated</label><input id="labels" type="text" value="a cat, a dog, a rocket, a person, a car"></div>
    <div style="flex:0"><label for="topk">Top k</label><input id="topk" type="number" min="1" max="1000" value="5"></div>
  </div>
  <button id="classify" type="button" disabled>Classify</button>
  <ol id="results" aria-live="polite"></ol>
  <div id="timings" class="muted"></div>
  <div id="error" role="alert"></div>
</div>

<div class="card">
  <b>Text to text similarity</b>
  <div class="row">
    <div><label for="text-a">Text A</label><input id="text-a" type="text" value="a photo of a cat"></div>
    <div><label for="text-b">Text B</label><input id="text-b" type="text" value="a picture of a kitten"></div>
  </div>
  <button id="compare" type="button">Compare</button>
  <div>cosine similarity: <span id="similarity">–</span></div>
  <div id="text-timings" class="muted"></div>
</div>

<script>
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var current = null;

  function showError(message) { $('error').textContent = message || ''; }

  async function api(path, init) {
    var res = await fetch(path, init);
    var body = await res.json().catch(function () { return {}; });
    if (!res.ok) throw new Error((body.error && body.error.type ? body.error.type + ': ' : 'HTTP ' + res.status + ': ') + (body.error ? body.error.message : ''));
    return { body: body, res: res };
  }

  function timings(res) {
    var header = res.headers.get('server-timing') || '';
    return header.split(',').map(function (part) {
      var m = /^\s*([\w-]+);dur=([\d.]+)/.exec(part);
      return m ? m[1] + ' ' + Number(m[2]).toFixed(1) + ' ms' : null;
    }).filter(Boolean).join(' · ');
  }

  async function describeModel() {
    try {
      var models = (await api('/v1/models')).body.data[0];
      $('model').textContent = models.id + ' · build ' + models.build_hash + ' · ' + models.embed_dim + '-d embeddings · default ' + models.default_precision;
      if (models.weights === 'random') $('random').style.display = 'block';
    } catch (e) { $('model').textContent = 'model unavailable: ' + e.message; }
    try {
      var sets = (await api('/v1/labelsets')).body.data;
      var seen = {};
      sets.filter(function (s) { return !s.stale; }).forEach(function (s) {
        if (seen[s.name]) return;
        seen[s.name] = true;
        var o = document.createElement('option');
        o.value = s.name;
        o.textContent = s.name;
        $('labelset').appendChild(o);
      });
    } catch (e) { /* no label-set store: typed labels still work */ }
  }

  function setImage(blob) {
    current = blob;
    $('preview').src = URL.createObjectURL(blob);
    $('preview').style.display = 'block';
    $('classify').disabled = false;
    showModelInput(blob);
    classify();
  }

  // What the model sees (POST /v1/preprocess): the crop as a PNG, and its box drawn on the image.
  async function showModelInput(blob) {
    $('cropbox').style.display = 'none';
    $('model-input').style.display = 'none';
    var res = await fetch('/v1/preprocess', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: blob });
    if (!res.ok || blob !== current) return;
    var resized = (res.headers.get('x-resize') || '').split('x').map(Number);
    var box = (res.headers.get('x-crop-box') || '').split(',').map(Number);
    $('model-input').src = URL.createObjectURL(await res.blob());
    $('model-input').style.display = 'block';
    $('model-input-caption').textContent = 'what the model sees: ' + box[2] + '×' + box[3] + ' of the image resized to ' + resized.join('×');
    var place = function () {
      var img = $('preview');
      var kx = img.clientWidth / resized[0];
      var ky = img.clientHeight / resized[1];
      var cb = $('cropbox');
      cb.style.left = (box[0] * kx) + 'px';
      cb.style.top = (box[1] * ky) + 'px';
      cb.style.width = (box[2] * kx) + 'px';
      cb.style.height = (box[3] * ky) + 'px';
      cb.style.display = 'block';
    };
    if ($('preview').complete && $('preview').clientWidth > 0) place(); else $('preview').onload = place;
  }
  async function classify() {
    if (!current) return;
    showError('');
    $('results').innerHTML = '';
    $('timings').textContent = 'classifying…';
    var q = new URLSearchParams();
    if ($('labelset').value) q.set('labelset', $('labelset').value); else q.set('labels', $('labels').value);
    q.set('top_k', $('topk').value || '5');
    try {
      var out = await api('/v1/classify?' + q.toString(), {
        method: 'POST',
        headers: { 'content-type': current.type && current.type.indexOf('image/') === 0 ? current.type : 'application/octet-stream' },
        body: current,
      });
      out.body.results.forEach(function (r) {
        var li = document.createElement('li');
        li.className = 'result';
        li.dataset.label = r.label;
        li.dataset.score = String(r.score);
        var line = document.createElement('div');
        line.className = 'line';
        var name = document.createElement('span');
        name.className = 'label';
        name.textContent = r.label;
        var pct = document.createElement('span');
        pct.textContent = (100 * r.score).toFixed(1) + ' %';
        line.appendChild(name);
        line.appendChild(pct);
        var bar = document.createElement('div');
        bar.className = 'bar';
        bar.style.width = Math.max(1, 100 * r.score).toFixed(1) + '%';
        li.appendChild(line);
        li.appendChild(bar);
        $('results').appendChild(li);
      });
      $('timings').textContent = out.body.precision + ' · ' + timings(out.res) + (out.res.headers.get('x-cache') === 'hit' ? ' · from cache' : '');
    } catch (e) {
      $('timings').textContent = '';
      showError(e.message);
    }
  }

  async function compare() {
    showError('');
    $('similarity').textContent = '…';
    try {
      var out = await api('/v1/embeddings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: [$('text-a').value, $('text-b').value] }),
      });
      var a = out.body.data[0].embedding, b = out.body.data[1].embedding, dot = 0;
      for (var i = 0; i < a.length; i++) dot += a[i] * b[i];
      $('similarity').textContent = dot.toFixed(4);
      $('text-timings').textContent = timings(out.res);
    } catch (e) {
      $('similarity').textContent = '–';
      showError(e.message);
    }
  }

  var drop = $('drop');
  drop.addEventListener('click', function () { $('file').click(); });
  drop.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') $('file').click(); });
  drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    drop.classList.remove('over');
    var f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) setImage(f);
  });
  $('file').addEventListener('change', function () { if (this.files[0]) setImage(this.files[0]); });
  document.addEventListener('paste', function (e) {
    var items = (e.clipboardData && e.clipboardData.items) || [];
    for (var i = 0; i < items.length; i++) {
      if (items[i].type.indexOf('image/') === 0) { setImage(items[i].getAsFile()); return; }
    }
  });
  $('classify').addEventListener('click', classify);
  $('labelset').addEventListener('change', classify);
  $('compare').addEventListener('click', compare);

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    $('camera').hidden = false;
    $('camera').addEventListener('click', async function () {
      try {
        var stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
        $('video').srcObject = stream;
        $('video').style.display = 'block';
        $('snap').hidden = false;
      } catch (e) { showError('camera unavailable: ' + e.message); }
    });
    $('snap').addEventListener('click', function () {
      var v = $('video'), canvas = document.createElement('canvas');
      canvas.width = v.videoWidth;
      canvas.height = v.videoHeight;
      canvas.getContext('2d').drawImage(v, 0, 0);
      v.srcObject.getTracks().forEach(function (t) { t.stop(); });
      v.style.display = 'none';
      $('snap').hidden = true;
      canvas.toBlob(function (blob) { if (blob) setImage(blob); }, 'image/png');
    });
  }
  describeModel();
})();
</script>
</body>
</html>
`;
