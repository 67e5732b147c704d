// The xmer web page: one file (chosen, dropped or recorded) and/or a text -> POST /predict; for a
// video or audio file also POST /analyze for the timeline picture. No libraries, nothing fetched
// from anywhere but this server.
"use strict";

const $ = (id) => document.getElementById(id);
let chosen = null;      // the File or Blob to send
let recorder = null;    // the running MediaRecorder

function setFile(blob, name) {
  chosen = blob;
  $("file-name").textContent = blob ? `${name} (${Math.round(blob.size / 1024)} kB)` : "no file";
  if (blob) chosen.fileName = name;
}

function showStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

function chips(list, cls) {
  const span = document.createElement("span");
  for (const m of list) {
    const chip = document.createElement("span");
    chip.className = "chip " + cls;
    chip.textContent = m;
    span.appendChild(chip);
  }
  if (!list.length) span.textContent = "-";
  return span;
}

function render(out) {
  $("prediction").textContent = out.predicted_labels ? (out.predicted_labels.join(", ") || "none") : out.prediction;
  const bars = $("bars");
  bars.replaceChildren();
  const top = Math.max(...Object.values(out.probabilities));
  for (const label of out.labels) {
    const p = out.probabilities[label];
    const row = document.createElement("div");
    row.className = "bar" + (p === top ? " top" : "");
    row.dataset.label = label;
    row.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
    row.querySelector(".label").textContent = label;
    row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
    row.querySelector(".value").textContent = (100 * p).toFixed(1) + "%";
    bars.appendChild(row);
  }
  $("observed").replaceChildren(chips(out.observed, "observed"));
  $("imagined").replaceChildren(chips(out.imagined, "imagined"));
  const words = out.transcript || (out.text_source === "asr" ? out.text : "");
  $("transcript-line").hidden = !words;
  $("transcript").textContent = words || "";
  const notes = $("notes");
  notes.replaceChildren();
  for (const [modality, why] of Object.entries(out.notes || {})) {
    const li = document.createElement("li");
    li.textContent = `${modality} not used: ${why}`;
    notes.appendChild(li);
  }
  $("answer").hidden = false;
}

async function post(path, form) {
  const response = await fetch(path, { method: "POST", body: form });
  let body;
  try { body = await response.json(); } catch (e) { body = { error: `HTTP ${response.status}` }; }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function predict() {
  const text = $("text").value.trim();
  if (!chosen && !text) { showStatus("Choose, drop or record a file, or type a text.", true); return; }
  const form = new FormData();
  if (chosen) form.append("file", chosen, chosen.fileName || "recording");
  if (text) form.append("text", text);
  $("predict").disabled = true;
  $("timeline").hidden = true;
  showStatus("Predicting...");
  try {
    const out = await post("/predict", form);
    render(out);
    showStatus("Done.");
    const isClip = chosen && /^(video|audio)\//.test(chosen.type || "") ;
    if (isClip && $("want-timeline").checked) {
      const clip = new FormData();
      clip.append("file", chosen, chosen.fileName || "recording");
      const timeline = await post("/analyze", clip);
      if (timeline.kind === "timeline" && timeline.picture) {
        $("timeline-picture").src = timeline.picture;
        $("timeline").hidden = false;
        if (timeline.transcript) { $("transcript").textContent = timeline.transcript; $("transcript-line").hidden = false; }
      }
    }
  } catch (error) {
    showStatus("Error: " + error.message, true);
  } finally {
    $("predict").disabled = false;
  }
}

async function record(withCamera) {
  if (!navigator.mediaDevices || !window.MediaRecorder) { showStatus("This browser cannot record here (it needs https or localhost).", true); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: withCamera });
  } catch (error) {
    showStatus("No access to the " + (withCamera ? "camera" : "microphone") + ": " + error.message, true);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    const type = recorder.mimeType || (withCamera ? "video/webm" : "audio/webm");
    const ext = type.includes("mp4") ? "mp4" : type.includes("ogg") ? "ogg" : "webm";
    setFile(new Blob(chunks, { type }), `recording.${ext}`);
    $("preview").hidden = true;
    $("recording").textContent = "";
    $("stop").disabled = true;
    recorder = null;
  };
  if (withCamera) { $("preview").srcObject = stream; $("preview").hidden = false; $("preview").play(); }
  recorder.start();
  $("stop").disabled = false;
  $("recording").textContent = "recording...";
}

function clearAll() {
  setFile(null);
  $("file").value = "";
  $("text").value = "";
  $("answer").hidden = true;
  $("timeline").hidden = true;
  showStatus("No prediction yet.");
}

$("file").addEventListener("change", () => { const f = $("file").files[0]; if (f) setFile(f, f.name); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer.files[0];
  if (f) setFile(f, f.name);
});
$("record-audio").addEventListener("click", () => record(false));
$("record-video").addEventListener("click", () => record(true));
$("stop").addEventListener("click", () => { if (recorder) recorder.stop(); });
$("predict").addEventListener("click", predict);
$("clear").addEventListener("click", clearAll);

fetch("/model").then((r) => r.json()).then((card) => {
  $("model-line").textContent = `Model: ${card.label_space || "custom"} labels (${card.labels.join(", ")}); inputs: ` +
    `${Object.keys(card.input_dims).join(", ")}. Missing inputs are imagined from the others.`;
}).catch(() => {});
