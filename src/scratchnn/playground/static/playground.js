// The scratchnn playground page: a form that sends settings to this page's session on the
// server, buttons that play, pause and step its training, and drawings of the frames the
// server sends as events. Plain JavaScript, nothing loaded from elsewhere.
"use strict";

const COLORS = ["#f59322", "#0877bd", "#2ca02c", "#d62728", "#9467bd"];
const RGB = COLORS.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
const NUMBER_FIELDS = ["classes", "noise", "samples", "validation", "seed", "lr", "batch_size",
  "dropout", "l2"];
const $ = (id) => document.getElementById(id);

const page = {
  session: null, settings: null, limits: null, points: null, frame: null, events: null,
  frames: 0, framesSince: performance.now(), fps: 0, total: 0, drawn: 0, latest: null, pending: null,
};
window.playground = page; // for the browser tests and the curious

// -- talking to the server -------------------------------------------------------------------
async function request(path, options = {}) {
  const reply = await fetch(path, options);
  const text = await reply.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { error: text }; }
  if (!reply.ok) throw new Error(body.error || `${reply.status} ${reply.statusText}`);
  return body;
}
const api = (what) => `/api/sessions/${page.session}/${what}`;

function say(text, error = false) {
  const message = $("message");
  message.textContent = text;
  message.className = error ? "error" : "";
}

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    say(error.message, true);
    if (/reload the page/.test(error.message)) page.events && page.events.close();
  }
}

// -- the form ----------------------------------------------------------------------------------
function showSettings(settings) {
  page.settings = settings;
  $("data").value = settings.data;
  for (const name of NUMBER_FIELDS) $(name).value = settings[name];
  $("optimizer").value = settings.optimizer;
  $("batch_norm").checked = settings.batch_norm;
  const box = $("layer-controls");
  box.replaceChildren();
  settings.layers.forEach((layer, index) => {
    const control = document.createElement("div");
    control.className = "layer-control";
    const units = Object.assign(document.createElement("input"),
      { type: "number", value: layer.units, min: 1, title: "units", className: "units" });
    const activation = document.createElement("select");
    activation.className = "activation";
    for (const name of page.limits.choices.activation) activation.add(new Option(name, name));
    activation.value = layer.activation;
    const change = (key, value) => {
      const layers = page.settings.layers.map((l) => ({ ...l }));
      layers[index][key] = value;
      send({ layers });
    };
    units.addEventListener("change", () => change("units", Number(units.value)));
    activation.addEventListener("change", () => change("activation", activation.value));
    control.append(`layer ${index + 1} `, units, activation);
    box.append(control);
  });
  $("classes").disabled = !["spirals", "blobs"].includes(settings.data);
}

function readNumber(name) {
  const text = $(name).value.trim();
  return text === "" ? NaN : Number(text);
}

async function send(changes) {
  await guarded(async () => {
    // JSON has no NaN: send it as the text it was, so the server names the field.
    const body = JSON.stringify(changes, (k, v) => (Number.isNaN(v) ? "NaN" : v));
    try {
      const reply = await request(api("settings"), { method: "POST", body,
        headers: { "Content-Type": "application/json" } });
      showSettings(reply.settings);
      say("");
      await loadPoints();
    } catch (error) {
      showSettings(page.settings); // the server changed nothing: show what it has
      throw error;
    }
  });
}

function wireForm() {
  for (const name of page.limits.choices.optimizer) $("optimizer").add(new Option(name, name));
  $("data").addEventListener("change", () => send({ data: $("data").value }));
  $("optimizer").addEventListener("change", () => send({ optimizer: $("optimizer").value }));
  $("batch_norm").addEventListener("change", () => send({ batch_norm: $("batch_norm").checked }));
  for (const name of NUMBER_FIELDS) {
    $(name).addEventListener("change", () => send({ [name]: readNumber(name) }));
  }
  $("add-layer").addEventListener("click", () => {
    const layers = page.settings.layers.map((l) => ({ ...l }));
    const last = layers[layers.length - 1] || { units: 4, activation: "tanh" };
    send({ layers: [...layers, { ...last }] });
  });
  $("remove-layer").addEventListener("click", () => send({ layers: page.settings.layers.slice(0, -1) }));
  $("upload").addEventListener("change", () => guarded(async () => {
    const file = $("upload").files[0];
    if (!file) return;
    const max = page.limits.limits.upload_bytes;
    if (file.size > max) throw new Error(`the file has ${file.size.toLocaleString()} bytes; the most is ${max.toLocaleString()}`);
    const reply = await request(api("upload"), { method: "POST", body: file,
      headers: { "Content-Type": "text/csv" } });
    say(`uploaded ${reply.rows} rows, classes ${reply.classes.join(", ")}`);
    await send({ data: "upload" });
  }));
  for (const action of ["play", "pause", "step", "reset"]) {
    $(action).addEventListener("click", () => guarded(async () => {
      await request(api(action), { method: "POST" });
      if (action === "reset") await loadPoints();
    }));
  }
  for (const [link, what] of [["download-model", "model.npz"], ["download-onnx", "model.onnx"]]) {
    // Fetched first, so that a refusal (no onnx package) is a message, not a downloaded error.
    $(link).addEventListener("click", (event) => {
      if ($(link).dataset.ready) { delete $(link).dataset.ready; return; }
      event.preventDefault();
      guarded(async () => {
        const reply = await fetch(api(what));
        if (!reply.ok) throw new Error((await reply.json()).error);
        const url = URL.createObjectURL(await reply.blob());
        const save = Object.assign(document.createElement("a"),
          { href: url, download: $(link).getAttribute("download") });
        save.click();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
        say(`downloaded ${save.download}`);
      });
    });
  }
  $("copy-python").addEventListener("click", () => guarded(async () => {
    const reply = await fetch(api("script.py"));
    if (!reply.ok) throw new Error((await reply.json()).error);
    const code = await reply.text();
    $("script").value = code;
    try {
      await navigator.clipboard.writeText(code);
      say("the Python script is copied (and shown below)");
    } catch {
      say("the Python script is below: select it and copy");
    }
  }));
}

function showLimits() {
  const l = page.limits.limits;
  $("limits").textContent = `Limits: ${l.samples[0]}-${l.samples[1]} samples, up to ${l.layers[1]} hidden ` +
    `layers of ${l.units[1]} units, learning rate above 0 up to ${l.lr[1]}, batch size up to ` +
    `${l.batch_size[1]}, ${l.epochs.toLocaleString()} epochs a run; CSV uploads up to ` +
    `${(l.upload_bytes / 1e6).toFixed(0)} MB and ${l.upload_rows} rows of x1,x2,label with ` +
    `${l.classes[0]}-${l.classes[1]} classes; ${l.sessions} tabs at once, a tab idle ` +
    `${l.idle_seconds / 60} minutes is freed. scratchnn ${page.limits.version}.`;
}

// -- drawing -----------------------------------------------------------------------------------
function decode(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function toCanvas(bounds, canvas) {
  const [x0, x1, y0, y1] = bounds;
  return ([x, y]) => [(x - x0) / (x1 - x0) * canvas.width, (y1 - y) / (y1 - y0) * canvas.height];
}

function drawBoundary() {
  const canvas = $("boundary");
  const context = canvas.getContext("2d");
  const frame = page.frame;
  if (frame && frame.run === (page.points && page.points.run)) {
    const size = frame.field_size;
    const classes = decode(frame.field.classes), confidence = decode(frame.field.confidence);
    const image = new ImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      const rgb = RGB[classes[i] % RGB.length], a = 0.15 + 0.55 * confidence[i] / 255;
      for (let c = 0; c < 3; c++) image.data[4 * i + c] = 255 + (rgb[c] - 255) * a;
      image.data[4 * i + 3] = 255;
    }
    const small = new OffscreenCanvas(size, size);
    small.getContext("2d").putImageData(image, 0, 0);
    context.imageSmoothingEnabled = true;
    context.drawImage(small, 0, 0, canvas.width, canvas.height);
  } else {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
  }
  if (!page.points) return;
  const place = toCanvas(page.points.bounds, canvas);
  for (const [part, ringed] of [["train", false], ["validation", true]]) {
    const { X, y } = page.points[part];
    X.forEach((point, i) => {
      const [cx, cy] = place(point);
      context.beginPath();
      context.arc(cx, cy, ringed ? 3.5 : 3, 0, 2 * Math.PI);
      context.fillStyle = ringed ? "#fff" : COLORS[y[i] % COLORS.length];
      context.strokeStyle = ringed ? COLORS[y[i] % COLORS.length] : "#fff";
      context.lineWidth = ringed ? 2 : 1;
      context.fill();
      context.stroke();
    });
  }
}

function drawNetwork() {
  const frame = page.frame;
  if (!frame || !page.settings) return;
  const box = $("network"), neurons = $("neurons"), edges = $("edges");
  const widths = [2, ...frame.neurons.map((layer) => layer.length)]; // inputs, hidden, outputs
  const width = box.clientWidth, height = box.clientHeight;
  const size = Math.max(8, Math.min(36, Math.floor((height - 20) / Math.max(...widths)) - 4));
  const columns = widths.length, gap = (width - size) / Math.max(columns - 1, 1);
  const spots = widths.map((count, column) => Array.from({ length: count }, (_, row) => [
    column * gap, (height - count * (size + 4)) / 2 + row * (size + 4)]));
  if (edges.width !== width || edges.height !== height) { edges.width = width; edges.height = height; }
  const context = edges.getContext("2d");
  context.clearRect(0, 0, width, height);
  // One path per colour and width step: a few strokes instead of one per weight.
  const paths = new Map();
  frame.weights.forEach((kernel, layer) => {
    let biggest = 1e-9;
    for (const row of kernel) for (const w of row) biggest = Math.max(biggest, Math.abs(w));
    kernel.forEach((row, i) => row.forEach((w, j) => {
      const step = Math.round(4 * Math.abs(w) / biggest), key = `${w >= 0 ? 1 : 0}:${step}`;
      if (!paths.has(key)) paths.set(key, new Path2D());
      const [ax, ay] = spots[layer][i], [bx, by] = spots[layer + 1][j];
      const path = paths.get(key);
      path.moveTo(ax + size, ay + size / 2);
      path.lineTo(bx, by + size / 2);
    }));
  });
  for (const [key, path] of paths) {
    const [sign, step] = key.split(":").map(Number);
    context.strokeStyle = COLORS[sign];
    context.globalAlpha = 0.25 + 0.75 * step / 4;
    context.lineWidth = 0.5 + 0.75 * step;
    context.stroke(path);
  }
  context.globalAlpha = 1;
  const key = widths.join(",") + ":" + size;
  if (neurons.dataset.key !== key) { // the layout changed: new squares
    neurons.replaceChildren();
    spots.forEach((column, c) => column.forEach(([x, y], row) => {
      const canvas = document.createElement("canvas");
      canvas.className = "neuron";
      canvas.width = canvas.height = frame.neuron_size;
      Object.assign(canvas.style, { left: `${x}px`, top: `${y}px`, width: `${size}px`, height: `${size}px` });
      canvas.dataset.layer = c; canvas.dataset.unit = row;
      neurons.append(canvas);
    }));
    neurons.dataset.key = key;
  }
  const n = frame.neuron_size;
  for (const canvas of neurons.children) {
    const layer = Number(canvas.dataset.layer), unit = Number(canvas.dataset.unit);
    const image = new ImageData(n, n);
    if (layer === 0) { // the inputs x1 and x2, left to right and bottom to top
      for (let i = 0; i < n * n; i++) {
        paint(image, i, unit === 0 ? (i % n) / (n - 1) : 1 - Math.floor(i / n) / (n - 1));
      }
    } else {
      const values = decode(frame.neurons[layer - 1][unit]);
      for (let i = 0; i < n * n; i++) paint(image, i, values[i] / 255);
    }
    canvas.getContext("2d").putImageData(image, 0, 0);
  }
}

function paint(image, i, value) { // 0 orange, 0.5 white, 1 blue
  const strength = Math.abs(value - 0.5) * 2, rgb = value >= 0.5 ? RGB[1] : RGB[0];
  for (let c = 0; c < 3; c++) image.data[4 * i + c] = 255 + (rgb[c] - 255) * strength;
  image.data[4 * i + 3] = 255;
}

function drawCurve(canvas, series, fixedTop) {
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const values = series.flatMap(([v]) => v).filter((v) => v !== null && Number.isFinite(v));
  if (!values.length) return;
  const top = fixedTop || Math.max(...values) * 1.05 || 1;
  series.forEach(([points, color, dashed]) => {
    context.strokeStyle = color;
    context.setLineDash(dashed ? [4, 3] : []);
    context.lineWidth = 1.5;
    context.beginPath();
    points.forEach((v, i) => {
      if (v === null) return;
      const x = points.length > 1 ? i / (points.length - 1) * canvas.width : 0;
      const y = canvas.height - v / top * (canvas.height - 4) - 2;
      i ? context.lineTo(x, y) : context.moveTo(x, y);
    });
    context.stroke();
  });
  context.setLineDash([]);
  context.fillStyle = "#666";
  context.fillText(fixedTop ? "accuracy (1 at the top)" : `loss (top ${top.toPrecision(3)})`, 4, 12);
}

function showFrame(frame) {
  page.frame = frame;
  page.frames += 1;
  page.drawn += 1;
  $("epoch").textContent = frame.epochs;
  $("state").textContent = frame.state;
  for (const name of ["loss", "val_loss", "accuracy", "val_accuracy"]) {
    const value = frame.metrics[name];
    $(name).textContent = value === undefined || value === null ? "-" : value.toFixed(4);
  }
  if (frame.message) say(frame.message, frame.state === "finished" && frame.message !== "stopped");
  const c = frame.curves;
  drawCurve($("loss-curve"), [[c.loss, COLORS[1]], [c.val_loss, COLORS[0], true]]);
  drawCurve($("accuracy-curve"), [[c.accuracy, COLORS[1]], [c.val_accuracy, COLORS[0], true]], 1);
  const list = $("findings");
  list.replaceChildren();
  if (!frame.findings.length) {
    list.append(Object.assign(document.createElement("li"), { className: "healthy",
      textContent: frame.epochs ? "no finding: every statistic within its threshold" : "no finding yet" }));
  }
  for (const finding of frame.findings) {
    const item = document.createElement("li");
    item.className = `finding ${finding.kind}`;
    const advice = Object.assign(document.createElement("span"), { className: "advice", textContent: finding.advice });
    item.append(finding.message, advice);
    list.append(item);
  }
  $("play").disabled = frame.state === "running" || frame.state === "finished";
  $("pause").disabled = frame.state !== "running";
  drawBoundary();
  drawNetwork();
}

async function loadPoints() {
  page.points = await request(api("points"));
  drawBoundary();
}

// -- start -------------------------------------------------------------------------------------
async function start() {
  await guarded(async () => {
    page.limits = await request("/api/limits");
    showLimits();
    const created = await request("/api/sessions", { method: "POST" });
    page.session = created.id;
    wireForm();
    showSettings(created.settings);
    $("download-model").href = api("model.npz");
    $("download-onnx").href = api("model.onnx");
    await loadPoints();
    page.events = new EventSource(api("events"));
    page.events.onmessage = (event) => {
      page.total += 1;
      page.latest = event.data;
      if (!page.pending) page.pending = setTimeout(() => {
        page.pending = null;
        showFrame(JSON.parse(page.latest));
      }, 0);
    };
    page.events.onerror = () => { if (page.events.readyState === EventSource.CLOSED) say("lost the server: reload the page", true); };
    addEventListener("pagehide", () => navigator.sendBeacon(api("close")));
    setInterval(() => {
      const now = performance.now();
      page.fps = page.frames * 1000 / (now - page.framesSince);
      page.frames = 0; page.framesSince = now;
    }, 2000);
  });
}
start();
