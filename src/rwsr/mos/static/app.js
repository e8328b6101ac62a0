// Rating page of an rwsr MOS study. Plain JavaScript, no build step.
// The server decides what a rater sees; this page shows one trial at a time, sends the
// answer, and moves on only after the server has stored it.
"use strict";

const ZOOM_KEY = "rwsr-mos-zoom";
const MAX_ZOOM = 4;
const state = { session: null, position: null, ready: false, busy: false, shownAt: 0, zoom: 1 };
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function say(text) {
  const message = $("message");
  message.textContent = text || "";
  message.hidden = !text;
}

function showSection(id) {
  for (const section of ["intro", "trial", "done"]) $(section).hidden = section !== id;
}

function buildScale(labels) {
  const list = $("scale");
  const answers = $("answers");
  list.replaceChildren();
  answers.replaceChildren();
  labels.forEach((label, score) => {
    const item = document.createElement("li");
    item.textContent = label;
    list.append(item);
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.score = String(score);
    button.disabled = true; // enabled once a trial's two patches have loaded
    button.innerHTML = `<kbd>${score}</kbd> <span></span>`;
    button.querySelector("span").textContent = label;
    button.addEventListener("click", () => rate(score));
    answers.append(button);
  });
}

// Pixel-exact display: one image pixel covers zoom × zoom device pixels, whatever the
// screen's devicePixelRatio, and CSS keeps the browser from smoothing.
function applyZoom() {
  const size = state.session ? state.session.patch_size : 0;
  const css = `${(size * state.zoom) / window.devicePixelRatio}px`;
  for (const id of ["reference", "result"]) {
    $(id).style.width = css;
    $(id).style.height = css;
  }
  for (const button of document.querySelectorAll("[data-zoom]")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.zoom) === state.zoom));
  }
}

function setZoom(zoom) {
  state.zoom = Math.min(MAX_ZOOM, Math.max(1, zoom));
  try {
    localStorage.setItem(ZOOM_KEY, String(state.zoom));
  } catch (_) {
    // Storage may be disabled; the zoom then lasts for this page only.
  }
  applyZoom();
}

function initialZoom(size) {
  let stored = null;
  try {
    stored = Number(localStorage.getItem(ZOOM_KEY));
  } catch (_) {
    stored = null;
  }
  if (stored >= 1 && stored <= MAX_ZOOM) return stored;
  const fit = Math.floor(((window.innerWidth - 96) / 2) * window.devicePixelRatio / size);
  return Math.min(3, Math.max(1, fit));
}

function setAnswersEnabled(enabled) {
  for (const button of $("answers").children) button.disabled = !enabled;
}

function markAnswer(score) {
  for (const button of $("answers").children) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.score) === score));
  }
}

function updateProgress() {
  const { done, total } = state.session;
  $("counter").textContent = `${done} of ${total} rated`;
  $("progress").max = total;
  $("progress").value = done;
}

function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("could not load an image of this trial"));
    img.src = url;
  });
}

function preload(position) {
  if (position === null || position >= state.session.total) return;
  for (const side of ["reference", "result"]) {
    new Image().src = `api/trials/${position}/${side}.png`;
  }
}

async function show(position) {
  const revisions = state.session.allow_revisions;
  for (const nav of document.querySelectorAll(".revisions")) nav.hidden = !revisions;
  updateProgress();
  if (position === null) {
    $("done-total").textContent = String(state.session.total);
    state.position = null;
    showSection("done");
    return;
  }
  showSection("trial");
  // A button keeps focus after a click; Space or Enter would then answer the next trial too.
  if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  state.position = position;
  state.ready = false;
  setAnswersEnabled(false);
  markAnswer(null);
  $("back").disabled = position === 0;
  try {
    await Promise.all([
      loadImage($("reference"), `api/trials/${position}/reference.png`),
      loadImage($("result"), `api/trials/${position}/result.png`),
    ]);
    const earlier = revisions ? (await api("GET", `api/trials/${position}`)).score : null;
    if (state.position !== position) return; // the rater moved on meanwhile
    markAnswer(earlier);
    state.ready = true;
    state.shownAt = performance.now();
    setAnswersEnabled(true);
    say("");
    preload(position + 1);
  } catch (error) {
    say(`${error.message}. Check the connection and reload the page.`);
  }
}

async function rate(score) {
  if (!state.ready || state.busy || state.position === null) return;
  state.busy = true;
  setAnswersEnabled(false);
  markAnswer(score);
  const elapsed = Math.min(86400000, Math.round(performance.now() - state.shownAt));
  try {
    state.session = await api("POST", `api/trials/${state.position}/rating`, {
      score,
      elapsed_ms: elapsed,
    });
    await show(state.session.next);
  } catch (error) {
    if (error.status === 409 || error.status === 404) {
      state.session = await api("GET", "api/session");
      await show(state.session.next);
    } else if (error.status === 401) {
      state.session = null;
      showSection("intro");
      say("Your session was not recognised. Press Start to begin a new one.");
    } else {
      say(`Your answer was not saved (${error.message}). Please try again.`);
      markAnswer(null);
      setAnswersEnabled(true);
    }
  } finally {
    state.busy = false;
  }
}

async function start() {
  try {
    state.session = await api("POST", "api/session", {});
    $("whoami").textContent = `Anonymous rater #${state.session.rater}`;
    state.zoom = initialZoom(state.session.patch_size);
    applyZoom();
    await show(state.session.next);
  } catch (error) {
    say(`Could not start: ${error.message}`);
  }
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const trialShown = !$("trial").hidden;
  if (!$("intro").hidden && event.key === "Enter") {
    event.preventDefault();
    start();
  } else if (trialShown && /^[0-5]$/.test(event.key)) {
    event.preventDefault();
    rate(Number(event.key));
  } else if (trialShown && (event.key === "+" || event.key === "=")) {
    setZoom(state.zoom + 1);
  } else if (trialShown && (event.key === "-" || event.key === "_")) {
    setZoom(state.zoom - 1);
  } else if (state.session && state.session.allow_revisions && event.key === "ArrowLeft") {
    goBack();
  }
}

function goBack() {
  const current = state.position === null ? state.session.total : state.position;
  if (current > 0 && !state.busy) show(current - 1);
}

async function init() {
  $("start").addEventListener("click", start);
  $("back").addEventListener("click", goBack);
  $("review").addEventListener("click", goBack);
  $("resume").addEventListener("click", () => show(state.session.next));
  for (const button of document.querySelectorAll("[data-zoom]")) {
    button.addEventListener("click", () => setZoom(Number(button.dataset.zoom)));
  }
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", applyZoom); // browser zoom changes devicePixelRatio
  try {
    const session = await api("GET", "api/session");
    buildScale(session.labels);
    if (session.rater === null) {
      showSection("intro");
      return;
    }
    state.session = session;
    $("whoami").textContent = `Anonymous rater #${session.rater}`;
    state.zoom = initialZoom(session.patch_size);
    applyZoom();
    await show(session.next);
  } catch (error) {
    say(`The study could not be loaded: ${error.message}`);
  }
}

init();
