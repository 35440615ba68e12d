"use strict";
// The guest screen: renders the kiosk's state (pushed on /events) in the guest's language.
// One heading and at most one detail per screen; live screens show one instruction as the heading.

const FINAL = new Set(
  ["accepted", "rejected", "reverified", "reverify-rejected", "front-desk", "checked-out", "out-of-order"]);
const FRONT_DESK = new Set(["scan", "choose", "not-checked-in", "consent", "id", "face", "checkout-confirm"]);
let texts = null;
let lang = "en";
let state = {screen: "starting"};
let shown = null;
let previewOn = false;
const $ = (id) => document.getElementById(id);

function t(key, values = {}) {
  let text = (texts[lang] && texts[lang][key]) || texts.en[key] || "";
  for (const [name, value] of Object.entries(values)) text = text.replace(`{${name}}`, value);
  return text;
}

function show(id, visible) {
  $(id).classList.toggle("hidden", !visible);
}

function setPreview(on) {
  const img = $("preview");
  if (on && !previewOn) img.src = `/preview.mjpg?${Date.now()}`;
  if (!on && previewOn) img.removeAttribute("src");
  previewOn = on;
}

// [heading, detail] of the current screen.
function words(s) {
  switch (s.screen) {
    case "scan":
      return [t(s.mode === "check-out" ? "scan-checkout" : "scan"), t("scan-detail")];
    case "id":
      if (s.id_source !== "camera") return [t("id"), ""];
      return [s.guidance ? t(s.guidance) : t("id-camera"), ""];
    case "face":
      if (s.guidance) return [t(s.guidance), ""];
      return [s.challenge && s.challenge !== "none" ? t(`do-${s.challenge}`) : t("face"), ""];
    case "accepted":
      // A name is never broken at its hyphen (Lin-Manuel).
    case "reverified":
      return [s.first_name ? t(s.screen, {name: s.first_name.replace(/-/g, "\u2011")}) : t(`${s.screen}-anonymous`),
        t(`${s.screen}-detail`)];
    case "consent":
    case "sending":
    case "checking-out":
      return [t(s.screen), ""];
    default:
      return [t(s.screen), t(`${s.screen}-detail`)];
  }
}

function render() {
  if (!texts) return;
  const s = state;
  const screen = s.screen;
  document.documentElement.lang = lang;
  document.body.dataset.screen = screen;
  document.body.classList.toggle("steady", s.guidance === "steady");
  if (s.theme) {
    document.documentElement.style.setProperty("--accent", s.theme.accent);
    document.documentElement.style.setProperty("--on-accent", s.theme["on-accent"]);
  }
  $("hotel").textContent = s.hotel || t("title");
  if (s.has_logo && !$("logo").getAttribute("src")) $("logo").src = "/logo";
  show("logo", Boolean(s.has_logo));
  const other = lang === "en" ? "zh-Hans" : "en";
  $("language").textContent = t("switch-language");
  $("language").lang = other;

  const [heading, detail] = words(s);
  $("heading").textContent = heading;
  $("detail").textContent = detail;
  document.title = `${s.hotel || t("title")}: ${heading}`;

  const idCamera = screen === "id" && s.id_source === "camera";
  const live = screen === "scan" || screen === "face" || idCamera;
  show("camera", live);
  setPreview(live);
  $("preview").alt = live ? t("preview-label") : "";
  show("oval", screen === "face");
  show("card", idCamera);
  show("qr-picture", screen === "scan");
  $("qr-picture-title").textContent = t("qr-picture");
  show("icon-done", screen === "accepted" || screen === "reverified");
  show("icon-desk", screen === "front-desk");
  show("icon-info", ["out-of-order", "rejected", "reverify-rejected", "checkout-confirm", "not-checked-in"]
    .includes(screen));
  const busy = ["starting", "sending", "checking-out"].includes(screen) || (screen === "id" && !idCamera);
  show("spinner", busy);
  $("spinner").setAttribute("aria-label", t(screen === "starting" ? "starting" : "progress-label"));
  const receipt = screen === "checked-out";
  show("receipt-qr", receipt);
  if (receipt && !$("receipt-qr").getAttribute("src")) $("receipt-qr").src = `/receipt-qr.svg?${Date.now()}`;
  if (!receipt) $("receipt-qr").removeAttribute("src");
  $("receipt-qr").alt = t("receipt-qr-label");
  show("receipt-key", receipt || (screen === "scan" && Boolean(s.receipt_key_id) && s.mode === "check-out"));
  $("receipt-key").textContent = "";
  if (s.receipt_key_id) {
    const code = document.createElement("code");
    code.textContent = s.receipt_key_id;
    const [before, after] = t("receipt-key").split("{key}");
    $("receipt-key").append(before, code, after || "", " ", receipt ? t("receipt-key-hint") : "");
  }

  const consent = screen === "consent" && s.consent;
  show("notice", Boolean(consent));
  if (consent) {
    $("notice").textContent = s.consent.text[lang] || s.consent.text.en;
    $("notice").dataset.version = s.consent.version;
  }
  const options = new Set(s.options || []);
  show("accept", screen === "consent" && options.has("accept"));
  $("accept").textContent = t("accept-button");
  show("confirm-checkout", screen === "checkout-confirm" && options.has("check-out"));
  $("confirm-checkout").textContent = t("confirm-checkout-button");
  const choose = screen === "choose" || screen === "not-checked-in";
  show("choose-checkin", choose && options.has("check-in"));
  $("choose-checkin").textContent = t(screen === "not-checked-in" ? "not-checked-in-button" : "choose-checkin-button");
  show("choose-new-card", screen === "choose" && options.has("new-card"));
  $("choose-new-card").textContent = t("choose-new-card-button");
  show("mode", screen === "scan");
  $("mode").textContent = t(s.mode === "check-out" ? "checkin-mode-button" : "checkout-mode-button");
  show("front-desk", FRONT_DESK.has(screen));
  $("front-desk").textContent = t(
    s.mode === "check-out" || screen === "checkout-confirm" ? "checkout-front-desk-button" : "front-desk-button");
  const staff = s.error && (screen === "out-of-order" || screen === "front-desk");
  show("staff-code", Boolean(staff));
  $("staff-code").textContent = staff ? t("out-of-order-code", {code: s.error}) : "";

  if (shown !== screen) {
    for (const button of document.querySelectorAll("#actions button")) button.disabled = false;
    if (!(shown === null && screen === "starting")) $("heading").focus({preventScroll: true});
    shown = screen;
  }
}

async function post(path, button) {
  if (button) button.disabled = true;
  try {
    const answer = await fetch(path, {method: "POST"});
    if (!answer.ok && button) button.disabled = false;
  } catch (error) {
    if (button) button.disabled = false;
  }
}

function connect() {
  const events = new EventSource("/events");
  events.onmessage = (message) => {
    const next = JSON.parse(message.data);
    if (next.screen === "starting" && FINAL.has(state.screen)) lang = "en";
    state = next;
    render();
  };
  events.onerror = () => {
    // The kiosk is between guests or restarting: the browser reconnects by itself.
    if (!FINAL.has(state.screen)) {
      state = {screen: "starting"};
      render();
    }
  };
}

document.addEventListener("DOMContentLoaded", async () => {
  $("language").addEventListener("click", () => {
    lang = lang === "en" ? "zh-Hans" : "en";
    render();
  });
  for (const button of document.querySelectorAll("[data-answer]")) {
    button.addEventListener("click", () => post(`/answer/${button.dataset.answer}`, button));
  }
  $("mode").addEventListener("click", () => post(`/mode/${state.mode === "check-out" ? "check-in" : "check-out"}`));
  $("front-desk").addEventListener("click", () => post("/front-desk", $("front-desk")));
  texts = await (await fetch("/texts")).json();
  render();
  connect();
});
