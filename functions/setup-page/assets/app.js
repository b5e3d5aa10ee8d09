// The setup page: the setup guide's four steps and the destinations list, over the public API
// only. Plain ES module, no build step. Data from the API is only ever set as text
// (textContent, value), never as markup.

const $ = (id) => document.getElementById(id);

const STAGE_NAMES = {
  configuration: "Check the configuration",
  confusedDeputyGuard: "Make sure the role requires the External ID",
  assumeRole: "Assume your role",
  locateBucket: "Find the bucket",
  write: "Write a test object",
};

const CATEGORY_NAMES = {
  invalidConfiguration: "Configuration incomplete or invalid",
  roleNotAssumable: "Role cannot be assumed",
  roleAssumableWithoutExternalId: "Role can be assumed without the External ID",
  roleAcceptsAnyExternalId: "Role accepts any External ID",
  bucketNotFound: "Bucket not found",
  wrongRegion: "Wrong region",
  putAccessDenied: "Writing was denied",
  kmsKeyNotUsable: "KMS key not usable",
  unexpectedBucketOwner: "Bucket owned by another account",
  aclRejected: "ACL rejected",
  bucketPolicyGrantsOthers: "Bucket policy grants more than this destination",
  retiredExternalIdAccepted: "Role still accepts a retired External ID",
  transient: "Temporary AWS error",
  timedOut: "Timed out",
};

const DOCUMENT_TITLES = {
  permissionsPolicy: "Permissions policy",
  trustPolicy: "Trust policy",
  bucketPolicy: "Bucket policy (simple setup)",
  bucketPolicyStatement: "Statement to add (advanced setup)",
  keyPolicyStatement: "KMS key policy statement",
};

const ACTION_NAMES = {
  created: "created",
  updated: "changed",
  saved: "saved",
  discarded: "pending changes discarded",
  deleted: "deleted",
  tested: "connection tested",
  statusChanged: "status changed",
  deliveryRequested: "delivery requested",
  credentialsVended: "write session handed out",
  externalIdRotationStarted: "External ID rotation started",
  externalIdRotationCancelled: "External ID rotation cancelled",
  externalIdRotationCompleted: "External ID rotation completed",
};

const STATUS_NAMES = { verified: "Verified", failing: "Failing", draft: "Draft" };

const DELIVERY_STATUS_NAMES = {
  queued: "Queued",
  delivering: "Delivering",
  delivered: "Delivered",
  failed: "Failed, will retry",
  parked: "Failed, gave up",
};

const state = {
  config: null,
  tenant: null,
  token: null,
  destination: null,
  etag: null,
  createKey: null,
  nextCursor: null,
  // From GET /me: whether the sign-in may change anything (null: not asked yet).
  canWrite: null,
};

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || problem?.message || `The request failed (HTTP ${status}).`);
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }
}

async function api(method, path, { body, headers = {} } = {}) {
  const sent = { Accept: "application/json, application/problem+json", ...headers };
  if (state.config.signIn.kind === "oidc") {
    sent.Authorization = `Bearer ${state.token}`;
  } else {
    sent["X-Tenant-Id"] = state.tenant;
  }
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { detail: "The service could not be reached. Check your connection and try again." });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    if (response.status >= 500 && !json?.detail) {
      // API Gateway's own answer when a function fails: {"message": "Internal Server Error"}.
      json = { detail: `The service could not answer (HTTP ${response.status}${json?.message ? `: ${json.message}` : ""}).` };
    }
    if (response.status === 401 && state.config.signIn.kind === "oidc") {
      forgetToken();
      showIdentity();
    }
    throw new ApiError(response.status, json, response.headers.get("Retry-After"));
  }
  return { body: json, etag: response.headers.get("ETag") };
}

const destinationPath = (id, rest = "") => `/destinations/${encodeURIComponent(id)}${rest}`;

// ---------------------------------------------------------------------------------------------
// Messages

function announce(message) {
  const announcer = $("announcer");
  announcer.textContent = "";
  // A fresh text node, so that screen readers announce a repeated message again.
  window.setTimeout(() => { announcer.textContent = message; }, 50);
}

function problemText(error) {
  const problem = error.problem || {};
  let text = problem.detail || error.message;
  if (problem.title && problem.detail && !problem.detail.startsWith(problem.title)) {
    text = `${problem.title}: ${problem.detail}`;
  }
  if (error.retryAfter) text += ` Try again in ${error.retryAfter} s.`;
  if (error.status === 0 || error.status >= 500) text += " Nothing you typed is lost: try again.";
  if (problem.requestId) text += ` (Request ID ${problem.requestId})`;
  return text;
}

function clearErrors(form, alertBox) {
  alertBox.hidden = true;
  alertBox.replaceChildren();
  for (const invalid of form.querySelectorAll("[aria-invalid]")) {
    invalid.removeAttribute("aria-invalid");
    const describedBy = (invalid.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter((id) => id && !id.endsWith("-error"));
    if (describedBy.length) invalid.setAttribute("aria-describedby", describedBy.join(" "));
    else invalid.removeAttribute("aria-describedby");
  }
  for (const message of form.querySelectorAll(".field-error")) message.remove();
}

// Shows a problem: each field error next to its field, the rest in the alert box.
function showProblem(error, alertBox, fields = {}, form = null) {
  if (form) clearErrors(form, alertBox);
  const summary = document.createElement("p");
  summary.textContent = problemText(error);
  alertBox.replaceChildren(summary);
  let first = null;
  for (const fieldError of error.problem?.errors || []) {
    const input = fields[fieldError.field] ? $(fields[fieldError.field]) : null;
    if (!input) {
      const line = document.createElement("p");
      line.textContent = `${fieldError.field} ${fieldError.message}`;
      alertBox.append(line);
      continue;
    }
    const message = document.createElement("p");
    message.className = "field-error";
    message.id = `${input.id}-error`;
    message.textContent = `${labelOf(input)} ${fieldError.message}`;
    if (input.type === "radio") input.closest("fieldset").append(message);
    else (input.closest(".copy-row") || input).after(message);
    input.setAttribute("aria-invalid", "true");
    const describedBy = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    input.setAttribute("aria-describedby", [message.id, ...describedBy].join(" "));
    first ||= input;
  }
  alertBox.hidden = false;
  (first || alertBox).focus?.();
}

function labelOf(input) {
  const label = document.querySelector(`label[for="${input.id}"]`);
  const text = label ? label.firstChild.textContent.trim() : input.name;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Copy buttons

function selectContents(element) {
  if (element.select) {
    element.select();
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copy(button) {
  const source = $(button.dataset.copyFrom);
  const text = source.value ?? source.textContent;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    selectContents(source);
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
  }
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
  announce(copied ? "Copied to the clipboard." : "The text is selected; press Ctrl+C to copy it.");
  window.setTimeout(() => { button.textContent = original; }, 2500);
}

// ---------------------------------------------------------------------------------------------
// Views and navigation (the URL's hash: "" list, "#new", "#destination/<id>/<step>")

function route() {
  const hash = window.location.hash.replace(/^#/, "");
  if (hash === "new") return { view: "wizard", step: 1 };
  const match = /^destination\/([0-9a-f-]{36})\/([1-4])$/.exec(hash);
  if (match) return { view: "wizard", id: match[1], step: Number(match[2]) };
  const history = /^destination\/([0-9a-f-]{36})\/history$/.exec(hash);
  if (history) return { view: "history", id: history[1] };
  return { view: "list" };
}

function navigate(hash) {
  if (window.location.hash === `#${hash}` || (hash === "" && !window.location.hash)) {
    render({ focus: true });
  } else {
    window.location.hash = hash;
  }
}

async function render({ focus = false } = {}) {
  $("page-error").hidden = true;
  if (!identityReady()) {
    $("list-view").hidden = true;
    $("wizard").hidden = true;
    return;
  }
  if (state.canWrite === null) {
    try {
      await loadCaller();
    } catch (error) {
      pageError(error);
      return;
    }
  }
  const current = route();
  if (current.step === 1 && !state.canWrite) {
    navigate("");
    return;
  }
  $("history-view").hidden = current.view !== "history";
  if (current.view === "history") {
    $("wizard").hidden = true;
    $("list-view").hidden = true;
    try {
      await renderHistory(current.id);
      if (focus) $("history-title").focus();
    } catch (error) {
      pageError(error);
    }
    return;
  }
  if (current.view === "list") {
    $("wizard").hidden = true;
    $("list-view").hidden = false;
    await loadList();
    if (focus) $("list-title").focus?.();
    return;
  }
  $("list-view").hidden = true;
  $("wizard").hidden = false;
  if (current.step === 1 && !current.id) {
    state.destination = null;
    state.etag = null;
    resetCreateForm();
    showStep(1, focus);
    return;
  }
  try {
    if (!state.destination || state.destination.id !== current.id) {
      await loadDestination(current.id);
    }
    await showDestinationStep(current.step, focus);
  } catch (error) {
    pageError(error);
  }
}

// Who the sign-in is and whether it may write: a reader is offered nothing the API would refuse.
async function loadCaller() {
  const { body } = await api("GET", "/me");
  state.canWrite = body.canWrite === true;
  document.body.classList.toggle("read-only", !state.canWrite);
  $("read-only-note").hidden = state.canWrite;
}

function pageError(error) {
  const box = $("page-error");
  const message = document.createElement("p");
  message.textContent = problemText(error);
  box.replaceChildren(message);
  box.hidden = false;
}

function showStep(step, focus) {
  const existing = Boolean(state.destination);
  $("wizard-title").textContent = existing ? `Destination: ${state.destination.name}` : "New destination";
  $("step-1-title").textContent = existing ? "Step 1. Details" : "Step 1. New destination";
  $("step-1-button").textContent = existing ? "1. Details" : "1. New destination";
  for (let n = 1; n <= 4; n += 1) {
    $(`step-${n}`).hidden = n !== step;
  }
  for (const button of $("steps").querySelectorAll("button")) {
    const n = Number(button.dataset.step);
    if (n === step) button.setAttribute("aria-current", "step");
    else button.removeAttribute("aria-current");
    // Before the destination exists only step 1 makes sense; after, every step (step 1 edits the
    // details, so a reader has no use for it).
    button.disabled = existing ? n === 1 && !state.canWrite : n !== 1;
  }
  if (focus) $(`step-${step}-title`).focus();
}

async function showDestinationStep(step, focus) {
  if (step === 1) renderDetails();
  if (step === 2) await renderGrantAccess();
  if (step === 3) renderConnect();
  if (step === 4) {
    renderSave();
    await renderDeliveries();
  }
  showStep(step, focus);
}

async function loadDestination(id) {
  const { body, etag } = await api("GET", destinationPath(id));
  state.destination = body;
  state.etag = etag;
}

// ---------------------------------------------------------------------------------------------
// The list

async function loadList(append = false) {
  if (!append) state.nextCursor = null;
  const query = new URLSearchParams({ limit: "20" });
  if (append && state.nextCursor) query.set("cursor", state.nextCursor);
  let page;
  try {
    ({ body: page } = await api("GET", `/destinations?${query}`));
  } catch (error) {
    pageError(error);
    return;
  }
  const rows = $("list-rows");
  if (!append) rows.replaceChildren();
  for (const destination of page.items) rows.append(listRow(destination));
  // Each saved destination's last delivery, filled in as it arrives.
  for (const destination of page.items.filter((d) => d.active)) {
    showLastDelivery(destination.id);
  }
  state.nextCursor = page.nextCursor;
  const empty = rows.children.length === 0;
  $("list-empty").hidden = !empty;
  $("list-table-wrap").hidden = empty;
  $("list-more").hidden = !page.nextCursor;
}

function deliveryStatusText(delivery) {
  const status = DELIVERY_STATUS_NAMES[delivery.status] || delivery.status;
  const why = delivery.failureCategory
    ? ` (${CATEGORY_NAMES[delivery.failureCategory] || delivery.failureCategory})`
    : "";
  return `${status}${why}`;
}

function deliverySummary(delivery) {
  return `${deliveryStatusText(delivery)}, ${formatTime(delivery.requestedAt)}`;
}

async function recentDeliveries(id, limit) {
  const { body } = await api("GET", destinationPath(id, `/deliveries?limit=${limit}`));
  return body.items;
}

async function showLastDelivery(id) {
  const cell = document.querySelector(`#list-rows tr[data-id="${CSS.escape(id)}"] .delivery`);
  if (!cell) return;
  try {
    const [last] = await recentDeliveries(id, 1);
    cell.textContent = last ? deliverySummary(last) : "None";
  } catch {
    cell.textContent = "Unavailable";
  }
}

function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${size} bytes` : `${size.toFixed(1)} ${units[unit]}`;
}

async function renderDeliveries() {
  const destination = state.destination;
  const section = $("deliveries");
  section.hidden = !destination.active;
  if (!destination.active) return;
  let items;
  try {
    items = await recentDeliveries(destination.id, 10);
  } catch (error) {
    showProblem(error, $("save-errors"));
    return;
  }
  const rows = $("delivery-rows");
  rows.replaceChildren();
  for (const delivery of items) {
    const row = document.createElement("tr");
    row.dataset.id = delivery.deliveryId;
    const cells = [
      formatTime(delivery.requestedAt),
      delivery.name,
      deliveryStatusText(delivery),
      delivery.key,
      formatSize(delivery.bytes),
    ];
    const labels = ["Requested", "File", "Status", "Object key", "Size"];
    cells.forEach((text, index) => {
      const cell = document.createElement(index === 0 ? "th" : "td");
      if (index === 0) cell.scope = "row";
      cell.dataset.label = labels[index];
      cell.className = ["requested", "file", "delivery-status", "key", "size"][index];
      cell.textContent = text;
      row.append(cell);
    });
    rows.append(row);
  }
  $("deliveries-empty").hidden = items.length > 0;
  $("deliveries-table-wrap").hidden = items.length === 0;
}

function formatTime(at) {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toLocaleString();
}

function lastFailure(destination) {
  const failed = [destination.latestTest, destination.lastCheck]
    .filter((result) => result && !result.passed)
    .sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt)));
  return failed.length ? CATEGORY_NAMES[failed[0].category] || failed[0].category : "None";
}

function listRow(destination) {
  const row = $("row-template").content.firstElementChild.cloneNode(true);
  row.dataset.id = destination.id;
  row.querySelector(".name").textContent = destination.name;
  row.querySelector(".where").textContent = `s3://${destination.bucket}/${destination.folder}`;
  row.querySelector(".mode").textContent = destination.authMode === "iamRole" ? "IAM role" : "Bucket policy";
  const status = row.querySelector(".status");
  status.textContent = STATUS_NAMES[destination.status] || destination.status;
  if (destination.hasPendingChanges) status.textContent += " (changes not saved)";
  status.classList.add(`status-${destination.status}`);
  // The newest of the latest Test Connection and the latest check of the saved configuration, so
  // that the column never contradicts the status the check set.
  const test = [destination.latestTest, destination.lastCheck]
    .filter(Boolean)
    .sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt)))[0];
  const ofSaved = test !== undefined && test === destination.lastCheck;
  row.querySelector(".tested").textContent = test
    ? `${test.passed ? "Passed" : "Failed"}, ${formatTime(test.startedAt)}${ofSaved ? " (saved configuration)" : ""}`
    : "Never";
  row.querySelector(".failure").textContent = lastFailure(destination);
  const edit = row.querySelector(".edit");
  edit.textContent = state.canWrite ? "Edit" : "View";
  edit.setAttribute("aria-label", `${edit.textContent} ${destination.name}`);
  edit.addEventListener("click", () => {
    state.destination = null;
    navigate(`destination/${destination.id}/${destination.authMode === "iamRole" && !destination.roleArn ? 2 : 3}`);
  });
  const history = row.querySelector(".history-open");
  history.setAttribute("aria-label", `History of ${destination.name}`);
  history.addEventListener("click", () => navigate(`destination/${destination.id}/history`));
  const retest = row.querySelector(".retest");
  retest.setAttribute("aria-label", `Re-test ${destination.name}`);
  retest.addEventListener("click", () => retestFromList(destination, retest));
  const remove = row.querySelector(".delete");
  remove.setAttribute("aria-label", `Delete ${destination.name}`);
  remove.addEventListener("click", () => confirmDelete(destination, remove));
  return row;
}

// ---------------------------------------------------------------------------------------------
// History: the configuration (active beside pending), tests, activity and deliveries

const HISTORY_SETTINGS = [
  ["bucket", "Bucket"], ["folder", "Folder"], ["region", "Region"], ["roleArn", "Role ARN"],
  ["kmsKeyArn", "KMS key"], ["bucketOwnerAccountId", "Bucket owner"],
];

async function renderHistory(id) {
  const { body: destination } = await api("GET", destinationPath(id));
  $("history-title").textContent = `History: ${destination.name}`;
  $("history-description").textContent = destination.description || "No description.";
  const pending = destination.hasPendingChanges === true;
  $("history-pending-head").hidden = !pending;
  const rows = $("history-configuration").querySelector("tbody");
  rows.replaceChildren();
  for (const [key, label] of HISTORY_SETTINGS) {
    const active = destination.active ? destination.active[key] : destination[key];
    if (!destination.active && (destination[key] === undefined || destination[key] === null)) continue;
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    const activeCell = document.createElement("td");
    activeCell.textContent = active ?? "—";
    tr.append(th, activeCell);
    if (pending) {
      const next = document.createElement("td");
      next.textContent = destination[key] ?? "—";
      if ((destination[key] ?? null) !== (active ?? null)) {
        next.classList.add("changed");
        const note = document.createElement("span");
        note.className = "visually-hidden";
        note.textContent = " (changed)";
        next.append(note);
      }
      tr.append(next);
    }
    rows.append(tr);
  }
  const [{ body: tests }] = await Promise.all([
    api("GET", destinationPath(id, "/tests?limit=10")),
    historyPage(id, "activity", false),
    historyPage(id, "deliveries", false),
  ]);
  const testList = $("history-tests");
  testList.replaceChildren(...tests.items.map((test) => historyItem(
    `${formatTime(test.startedAt)}: ${test.passed ? "passed" : `failed (${CATEGORY_NAMES[test.category] || test.category})`}`)));
  $("history-tests-empty").hidden = tests.items.length > 0;
}

function historyItem(text) {
  const li = document.createElement("li");
  li.textContent = text;
  return li;
}

const historyCursors = { activity: null, deliveries: null };

// One page of the activity trail or the deliveries; `more` appends the next one.
async function historyPage(id, kind, more) {
  const query = new URLSearchParams({ limit: "10" });
  if (more && historyCursors[kind]) query.set("cursor", historyCursors[kind]);
  const { body: page } = await api("GET", destinationPath(id, `/${kind}?${query}`));
  const list = $(`history-${kind}`);
  const items = page.items.map((item) => historyItem(kind === "activity"
    ? `${formatTime(item.at)}: ${ACTION_NAMES[item.action] || item.action}${item.fields ? ` (${item.fields.join(", ")})` : ""}${item.from ? ` (${item.from} → ${item.to})` : ""} by ${item.actor}`
    : `${formatTime(item.requestedAt)}: ${item.name}, ${DELIVERY_STATUS_NAMES[item.status] || item.status}`));
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  historyCursors[kind] = page.nextCursor || null;
  const more_ = $(`history-${kind}-more`);
  more_.hidden = !page.nextCursor;
  more_.onclick = () => historyPage(id, kind, true).catch(pageError);
  if (kind === "deliveries") $("history-deliveries-empty").hidden = list.children.length > 0;
}

// A saved destination without pending changes has its active configuration checked now, which
// updates its status; otherwise the configuration under edit is tested (a draft, or the pending
// changes). The announcement says which it was.
async function retestFromList(destination, button) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  const checksActive = destination.status !== "draft" && !destination.hasPendingChanges;
  try {
    const { body: result } = await api("POST", destinationPath(destination.id, checksActive ? "/check" : "/test"));
    const outcome = result.passed ? "passed" : `failed (${CATEGORY_NAMES[result.category] || result.category})`;
    announce(checksActive
      ? `${destination.name}: saved configuration checked, ${outcome}; status ${STATUS_NAMES[result.status] || result.status}.`
      : `${destination.name}: ${destination.hasPendingChanges ? "pending changes tested (the saved configuration was not re-checked)" : "test"}, ${outcome}.`);
    await loadList();
  } catch (error) {
    pageError(error);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function confirmDelete(destination, opener) {
  const dialog = $("confirm-delete");
  $("confirm-delete-text").textContent =
    `Delete “${destination.name}” (s3://${destination.bucket}/${destination.folder})? Deliveries to it stop. Your bucket and role are not changed.`;
  dialog.returnValue = "";
  dialog.onclose = async () => {
    opener.focus();
    if (dialog.returnValue !== "delete") return;
    try {
      await api("DELETE", destinationPath(destination.id));
      announce(`Deleted ${destination.name}.`);
      await loadList();
      $("list-title").focus();
    } catch (error) {
      pageError(error);
    }
  };
  dialog.showModal();
}

// ---------------------------------------------------------------------------------------------
// Step 1: New destination

const CREATE_FIELDS = {
  name: "name",
  description: "description",
  bucket: "bucket",
  folder: "folder",
  authMode: "auth-iam-role",
  region: "region",
  kmsKeyArn: "kmsKeyArn",
  bucketOwnerAccountId: "bucketOwnerAccountId",
  objectKeyTemplate: "objectKeyTemplate",
};

// The form's text fields and the destination's fields they edit (auth mode never changes).
const DETAIL_FIELDS = ["name", "description", "bucket", "folder", "region", "kmsKeyArn", "bucketOwnerAccountId", "objectKeyTemplate"];

const DEFAULT_KEY_TEMPLATE = "{folder}{yyyy}/{mm}/{dd}/{deliveryId}-{name}";

// A field as the destination has it, as the form shows it.
function detailValue(destination, field) {
  const value = destination[field] ?? "";
  if (field === "folder") return value.replace(/\/+$/, "");
  if (field === "objectKeyTemplate" && value === DEFAULT_KEY_TEMPLATE) return "";
  return value;
}

// Step 1 of an existing destination: every detail editable (the configuration under edit; a saved
// destination's change waits to be tested and saved), its auth mode shown but fixed.
function renderDetails() {
  const destination = state.destination;
  const form = $("create-form");
  clearErrors(form, $("create-errors"));
  form.dataset.destination = destination.id;
  for (const field of DETAIL_FIELDS) $(field).value = detailValue(destination, field);
  for (const radio of form.querySelectorAll('input[name="authMode"]')) {
    radio.checked = radio.value === destination.authMode;
    radio.disabled = true;
  }
  updateOwnerHint();
  $("create-submit").textContent = "Save these details";
  $("details-status").hidden = true;
}

// What the form changes, as a merge patch: an emptied optional field is cleared.
function detailsPatch() {
  const destination = state.destination;
  const patch = {};
  for (const field of DETAIL_FIELDS) {
    let value = $(field).value.trim();
    if (field === "folder") value = value.replace(/^\/+|\/+$/g, "");
    if (value === detailValue(destination, field)) continue;
    patch[field] = value || (field === "name" || field === "bucket" ? value : null);
  }
  return patch;
}

async function editDetails() {
  const form = $("create-form");
  const alertBox = $("create-errors");
  const status = $("details-status");
  clearErrors(form, alertBox);
  status.hidden = true;
  const submit = $("create-submit");
  submit.disabled = true;
  try {
    const patch = detailsPatch();
    if (!Object.keys(patch).length) {
      status.textContent = "Nothing changed.";
      status.hidden = false;
      return;
    }
    const preview = await applyEdit(patch, "Make the change");
    if (!preview) return;
    if (preview.mustReapply) {
      announce("Changed. Apply the changed documents, then test the connection.");
      navigate(`destination/${state.destination.id}/2`);
      return;
    }
    renderDetails();
    showStep(1, false);
    status.textContent = state.destination.active
      ? "Changed. Deliveries keep the saved configuration until this change is tested and saved (step 3 and 4)."
      : "Changed.";
    status.hidden = false;
    announce(status.textContent);
  } catch (error) {
    if (error.status === 412) {
      const ours = state.destination;
      await loadDestination(ours.id);
      renderDetails();
      error.problem.detail = `${theirChanges(ours, state.destination)} The page now shows their version: check it and change it again.`;
    }
    showProblem(error, alertBox, CREATE_FIELDS, form);
  } finally {
    submit.disabled = false;
  }
}

const FIELD_NAMES = {
  name: "name",
  description: "description",
  bucket: "bucket",
  folder: "folder",
  region: "region",
  roleArn: "role ARN",
  kmsKeyArn: "KMS key",
  bucketOwnerAccountId: "bucket owner",
  objectKeyTemplate: "object key template",
};

// What someone else changed between the version the page had and theirs, field by field.
function theirChanges(ours, theirs) {
  const shown = (value) => (value === null || value === undefined || value === "" ? "(empty)" : `“${value}”`);
  const changed = Object.keys(FIELD_NAMES)
    .filter((field) => (ours[field] ?? "") !== (theirs[field] ?? ""))
    .map((field) => `${FIELD_NAMES[field]} ${shown(ours[field])} → ${shown(theirs[field])}`);
  if (ours.status !== theirs.status) changed.push(`status ${STATUS_NAMES[ours.status]} → ${STATUS_NAMES[theirs.status]}`);
  return changed.length
    ? `Someone else changed this destination: ${changed.join("; ")}.`
    : "Someone else changed this destination.";
}

// Makes an edit, first asking the customer to confirm it when it changes a document they applied
// (shown with its changed lines marked). Returns the preview, or null when they kept editing.
async function applyEdit(patch, confirmLabel) {
  const id = state.destination.id;
  const { body: preview } = await api("POST", destinationPath(id, "/policies/preview"), { body: patch });
  if (preview.mustReapply && !(await confirmDocuments(preview, confirmLabel))) return null;
  const { body, etag } = await api("PATCH", destinationPath(id), {
    body: patch,
    headers: { "If-Match": state.etag },
  });
  state.destination = body;
  state.etag = etag;
  return preview;
}

function confirmDocuments(preview, confirmLabel) {
  const dialog = $("edit-review");
  const roleMode = state.destination.authMode === "iamRole";
  $("edit-review-text").textContent = `${roleMode ? "Your role" : "Your bucket"} has the documents step 2 showed. `
    + "With this change, apply the documents below before testing, or the test is denied."
    + (state.destination.active ? " Deliveries keep using the saved configuration until the change is tested and saved." : "");
  const host = $("edit-review-documents");
  host.replaceChildren();
  for (const document_ of preview.documents.filter((d) => d.change !== "unchanged")) {
    const title = DOCUMENT_TITLES[document_.kind] || document_.kind;
    const heading = document.createElement("h3");
    heading.id = `review-${document_.kind}-title`;
    heading.textContent = `${title} (${document_.change === "added" ? "new" : "changed"})`;
    const pre = document.createElement("pre");
    pre.className = "diff";
    pre.tabIndex = 0;
    pre.dataset.kind = document_.kind;
    pre.setAttribute("aria-labelledby", heading.id);
    pre.append(...diffLines(document_.previousText ?? "", document_.text, document_.change === "added"));
    host.append(heading, pre);
  }
  for (const removed of preview.removedDocuments) {
    const note = document.createElement("p");
    note.textContent = `No longer needed: the ${(DOCUMENT_TITLES[removed.kind] || removed.kind).toLowerCase()}.`;
    host.append(note);
  }
  $("edit-review-apply").textContent = confirmLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === "apply");
    dialog.showModal();
  });
}

// The lines of `after`, with those not in `before` marked added and those of `before` not kept
// marked removed (before the lines that replace them) (a longest-common-subsequence line diff: documents are short).
function diffLines(before, after, wholeIsNew) {
  const a = wholeIsNew ? [] : before.split("\n");
  const b = after.split("\n");
  const common = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const line = (tag, sign, text) => {
    const element = document.createElement(tag);
    element.className = "line";
    element.textContent = `${sign} ${text}`;
    return element;
  };
  const lines = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push(line("span", " ", b[j]));
      i += 1;
      j += 1;
    } else if (i < a.length && (j === b.length || common[i + 1][j] >= common[i][j + 1])) {
      lines.push(line("del", "−", a[i]));
      i += 1;
    } else {
      lines.push(line("ins", "+", b[j]));
      j += 1;
    }
  }
  return lines;
}

function resetCreateForm() {
  const form = $("create-form");
  // A destination's details are not a new one's; what the user typed for a new one stays.
  if (form.dataset.destination) {
    form.reset();
    delete form.dataset.destination;
  }
  clearErrors(form, $("create-errors"));
  for (const radio of form.querySelectorAll('input[name="authMode"]')) radio.disabled = false;
  $("create-submit").textContent = "Create and continue";
  $("details-status").hidden = true;
  state.createKey = null;
  updateOwnerHint();
}

function updateOwnerHint() {
  const bucketPolicy = $("auth-bucket-policy").checked;
  $("owner-optional").hidden = bucketPolicy;
  $("bucketOwnerAccountId").required = bucketPolicy;
}

async function createDestination(event) {
  event.preventDefault();
  if (state.destination) {
    await editDetails();
    return;
  }
  const form = $("create-form");
  const data = new FormData(form);
  const body = { name: data.get("name"), bucket: data.get("bucket").trim(), authMode: data.get("authMode") };
  for (const optional of ["description", "folder", "region", "kmsKeyArn", "bucketOwnerAccountId", "objectKeyTemplate"]) {
    const value = String(data.get(optional) || "").trim();
    if (value) body[optional] = value;
  }
  // One key per filled-in form: a retry after a lost answer cannot create a second destination.
  state.createKey ||= crypto.randomUUID();
  const submit = $("create-submit");
  submit.disabled = true;
  try {
    const { body: created, etag } = await api("POST", "/destinations", {
      body,
      headers: { "Idempotency-Key": state.createKey },
    });
    clearErrors(form, $("create-errors"));
    state.destination = created;
    state.etag = etag;
    state.createKey = null;
    form.reset();
    announce(`Created ${created.name}. Next: grant access.`);
    navigate(`destination/${created.id}/2`);
  } catch (error) {
    showProblem(error, $("create-errors"), CREATE_FIELDS, form);
  } finally {
    submit.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Step 2: Grant access

async function renderGrantAccess() {
  const destination = state.destination;
  const [{ body: policies }, { body: kit }] = await Promise.all([
    api("GET", destinationPath(destination.id, "/policies")),
    api("GET", destinationPath(destination.id, "/setup-kit")),
  ]);
  const roleMode = destination.authMode === "iamRole";
  $("external-id-block").hidden = !roleMode;
  $("external-id").value = roleMode ? policies.externalId : "";
  $("platform-principal").textContent = policies.platformPrincipal;

  const documents = $("documents");
  documents.replaceChildren();
  for (const document_ of policies.documents) {
    const block = $("document-template").content.firstElementChild.cloneNode(true);
    const title = DOCUMENT_TITLES[document_.kind] || document_.kind;
    const titleId = `doc-${document_.kind}-title`;
    block.dataset.kind = document_.kind;
    block.querySelector(".doc-title").textContent = title;
    block.querySelector(".doc-title").id = titleId;
    block.querySelector(".doc-purpose").textContent = document_.purpose;
    const pre = block.querySelector("pre");
    pre.id = `doc-${document_.kind}`;
    pre.setAttribute("aria-labelledby", titleId);
    pre.textContent = document_.text;
    const button = block.querySelector(".copy");
    button.dataset.copyFrom = pre.id;
    button.setAttribute("aria-label", `Copy the ${title.toLowerCase()}`);
    documents.append(block);
  }

  renderConsoleSteps(destination, kit.console, roleMode);
  renderRotation(destination);

  const launch = $("launch-stack");
  const url = kit.cloudFormation.quickCreateUrl;
  if (/^https?:\/\//.test(url)) launch.href = url;
  launch.textContent = roleMode
    ? "Launch Stack: create the role in the AWS console"
    : "Launch Stack: set the bucket policy in the AWS console";
  $("launch-stack-hint").textContent = roleMode
    ? "Opens CloudFormation with every value filled in; the stack's output RoleArn is what step 3 asks for."
    : "Opens CloudFormation with every value filled in. It replaces the bucket's whole policy: with an existing policy, merge below or use the CLI script.";
  $("kit-cli").textContent = kit.awsCli;
  $("kit-update").textContent = kit.cloudFormation.updateCommand;
  $("kit-terraform").textContent = kit.terraform;

  $("merge").hidden = roleMode;
  $("merge-result").hidden = true;
  clearErrors($("merge-form"), $("merge-errors"));
}

// The customer's setup guide, step by step in the console, with the values to paste. Documents
// are copied from their blocks below; names from here.
function renderConsoleSteps(destination, console_, roleMode) {
  const body = $("console-steps-body");
  body.replaceChildren();
  const link = (text, href) => {
    const a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = text;
    return a;
  };
  const value = (id, text, label) => {
    const code = document.createElement("code");
    code.id = id;
    code.textContent = text;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.dataset.copyFrom = id;
    button.textContent = "Copy";
    button.setAttribute("aria-label", `Copy the ${label}`);
    return [code, " ", button];
  };
  const list = (id, steps) => {
    const ol = document.createElement("ol");
    ol.id = id;
    for (const parts of steps) {
      const li = document.createElement("li");
      li.append(...parts);
      ol.append(li);
    }
    return ol;
  };
  const titled = (text, ol) => {
    const h4 = document.createElement("h4");
    h4.textContent = text;
    return [h4, ol];
  };
  if (roleMode) {
    const iam = `${console_.consoleUrl}/iam/home`;
    body.append(list("console-steps-role", [
      ["Open the IAM console's ", link("Policies", `${iam}#/policies`), ", choose Create policy, then the JSON tab."],
      ["Paste the permissions policy (below) into the policy editor, and choose Next."],
      ["Name the policy ", ...value("console-policy-name", console_.policyName, "policy name"), " and choose Create policy."],
      ["Open ", link("Roles", `${iam}#/roles`), ", choose Create role, then Custom trust policy."],
      ["Paste the trust policy (below) into the Custom trust policy editor, and choose Next."],
      ["Find and select the policy ", console_.policyName, ", and choose Next."],
      ["Name the role ", ...value("console-role-name", console_.roleName, "role name"), " and choose Create role."],
      ["Open the role: on its Summary page, copy its ARN and paste it in step 3 as the Role ARN."],
    ]));
    return;
  }
  const bucketUrl = `${console_.consoleUrl}/s3/buckets/${encodeURIComponent(destination.bucket)}?tab=permissions`;
  const open = ["Open your bucket ", link(destination.bucket, bucketUrl), " in the S3 console, the Permissions tab, and under Bucket policy choose Edit."];
  body.append(
    ...titled("Simple setup (the bucket has no policy yet)", list("console-steps-simple", [
      open,
      ["Paste the bucket policy (below) as the whole policy, and choose Save changes."],
    ])),
    ...titled("Advanced setup (the bucket already has a policy)", list("console-steps-advanced", [
      [...open],
      ["Add the bucket policy statement (below) to the policy's Statement list, keeping every statement already there (or paste your policy under “Already have a bucket policy?” to have it merged), and choose Save changes."],
    ])),
  );
}

// The External ID's rotation: start it, see the next ID and whether a test proved it, complete
// or cancel it; and the IDs earlier rotations retired, until the role is found refusing them.
function renderRotation(destination) {
  const roleMode = destination.authMode === "iamRole";
  $("rotation").hidden = !roleMode;
  clearErrors($("rotation"), $("rotation-errors"));
  if (!roleMode) return;
  const rotation = destination.externalIdRotation || { next: null, retired: [] };
  const next = rotation.next;
  $("rotation-start").disabled = false;
  $("rotation-cancel").disabled = false;
  $("rotation-none").hidden = Boolean(next);
  $("rotation-open").hidden = !next;
  if (next) {
    // Completion needs the proof on the role deliveries use (the saved one, once saved).
    const deliveringRole = destination.active ? destination.active.roleArn : destination.roleArn;
    const proven = Boolean(next.provenAt) && next.provenRoleArn === deliveringRole;
    $("next-external-id").value = next.externalId;
    let text = "Not proven yet: apply the trust policy below (it accepts both IDs; or run the stack update, the CLI script or Terraform again), then run Test Connection in step 3. Deliveries keep using the current External ID meanwhile.";
    if (proven) {
      text = `Proven: Test Connection assumed ${next.provenRoleArn} with the next External ID (${formatTime(next.provenAt)}). Complete the rotation to send only the next one from now on.`;
    } else if (next.provenAt) {
      text = `Test Connection proved the next External ID on ${next.provenRoleArn}, but deliveries use ${deliveringRole}: discard the pending role change, or test that role, before completing.`;
    }
    $("rotation-state").textContent = text;
    $("rotation-complete").disabled = !proven;
  }
  $("rotation-retired").replaceChildren(...rotation.retired.map((retired) => {
    const item = document.createElement("li");
    item.textContent = retired.overdue
      ? `Overdue: your role still accepts the External ID retired on ${formatTime(retired.retiredAt)}. Apply the trust policy below (it accepts only the current one); until then the destination fails its checks.`
      : `Remove the External ID retired on ${formatTime(retired.retiredAt)} from the role's trust policy (apply the one below) before ${formatTime(retired.graceEndsAt)}; after that, a role that still accepts it fails its checks.`;
    return item;
  }));
}

async function rotate(step) {
  const messages = {
    "": "Next External ID generated. Apply the trust policy that accepts both, then test the connection.",
    "/complete": "Rotation completed: only the new External ID is used from now on.",
    "/cancel": "Rotation cancelled: the current External ID stays.",
  };
  const box = $("rotation-errors");
  clearErrors($("rotation"), box);
  const buttons = ["rotation-start", "rotation-complete", "rotation-cancel"].map($);
  const wasDisabled = buttons.map((b) => b.disabled);
  for (const button of buttons) button.disabled = true;
  try {
    const { body, etag } = await api("POST", destinationPath(state.destination.id, `/external-id/rotation${step}`), {
      headers: { "If-Match": state.etag },
    });
    state.destination = body;
    state.etag = etag;
    await renderGrantAccess();
    announce(messages[step]);
  } catch (error) {
    buttons.forEach((button, i) => { button.disabled = wasDisabled[i]; });
    if (error.status === 412) {
      const ours = state.destination;
      try {
        await loadDestination(ours.id);
        await renderGrantAccess();
        error.problem.detail = `${theirChanges(ours, state.destination)} The page now shows their version.`;
      } catch {
        // Their version could not be read: the original problem still says what happened.
      }
    }
    showProblem(error, box);
  }
}

async function mergePolicy(event) {
  event.preventDefault();
  const form = $("merge-form");
  clearErrors(form, $("merge-errors"));
  const existingPolicy = $("existing-policy").value.trim();
  try {
    const { body: merged } = await api("POST", destinationPath(state.destination.id, "/bucket-policy/merge"), {
      body: { existingPolicy },
    });
    $("merged-policy").textContent = merged.text;
    const warnings = $("merge-warnings");
    warnings.replaceChildren();
    for (const warning of merged.warnings) {
      const item = document.createElement("li");
      item.textContent = `Warning: statement ${warning.sid ? `“${warning.sid}”` : `#${warning.statementIndex + 1}`}: ${warning.message}`;
      warnings.append(item);
    }
    $("merge-result").hidden = false;
    announce(merged.replacedExisting
      ? "Merged: our earlier statement was replaced. Copy the merged policy."
      : "Merged. Copy the merged policy into the bucket's Permissions tab.");
    $("merged-title").scrollIntoView({ block: "nearest" });
  } catch (error) {
    showProblem(error, $("merge-errors"), { existingPolicy: "existing-policy" }, form);
  }
}

// ---------------------------------------------------------------------------------------------
// Step 3: Connect

const CONNECT_FIELDS = { roleArn: "roleArn", bucket: "connect-bucket", folder: "connect-folder" };

function renderConnect() {
  const destination = state.destination;
  const roleMode = destination.authMode === "iamRole";
  $("role-arn-field").hidden = !roleMode;
  $("roleArn").value = roleMode ? destination.roleArn || "" : "";
  $("rotation-test-note").hidden = !destination.externalIdRotation?.next;
  $("connect-bucket").value = destination.bucket;
  $("connect-folder").value = destination.folder;
  clearErrors($("connect-form"), $("connect-errors"));
  if (destination.latestTest && destination.latestTestCurrent) showTestResult(destination.latestTest);
  else $("test-result").hidden = true;
}

function changes() {
  const destination = state.destination;
  const patch = {};
  if (destination.authMode === "iamRole") {
    const roleArn = $("roleArn").value.trim();
    if (roleArn !== (destination.roleArn || "")) patch.roleArn = roleArn || null;
  }
  const bucket = $("connect-bucket").value.trim();
  if (bucket !== destination.bucket) patch.bucket = bucket;
  const folder = $("connect-folder").value.trim().replace(/^\/+|\/+$/g, "");
  if (folder !== destination.folder.replace(/\/+$/, "")) patch.folder = folder || null;
  return patch;
}

async function testConnection(event) {
  event.preventDefault();
  const form = $("connect-form");
  const button = $("test-connection");
  clearErrors(form, $("connect-errors"));
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  showPendingStages();
  try {
    const patch = changes();
    if (Object.keys(patch).length && !(await applyEdit(patch, "Make the change and test"))) {
      $("test-result").hidden = true;
      announce("Nothing changed: keep editing.");
      return;
    }
    const { body: result } = await api("POST", destinationPath(state.destination.id, "/test"));
    showTestResult(result);
    await loadDestination(state.destination.id);
    announce(result.passed
      ? "Test Connection passed. Continue to Save."
      : `Test Connection failed: ${CATEGORY_NAMES[result.category] || result.category}.`);
  } catch (error) {
    $("test-result").hidden = true;
    if (error.status === 412) {
      const ours = state.destination;
      await loadDestination(ours.id);
      renderConnect();
      error.problem.detail = `${theirChanges(ours, state.destination)} The page now shows their version: check it and test again.`;
    }
    showProblem(error, $("connect-errors"), CONNECT_FIELDS, form);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function stageItem(stage, status, text) {
  const item = document.createElement("li");
  item.className = `stage-${status}`;
  item.dataset.stage = stage;
  item.dataset.status = status;
  const name = document.createElement("span");
  name.textContent = `${STAGE_NAMES[stage] || stage}: `;
  const label = document.createElement("span");
  label.className = "stage-status";
  label.textContent = text;
  item.append(name, label);
  return item;
}

function showPendingStages() {
  $("test-heading").textContent = "Testing the connection…";
  $("stages").replaceChildren(...Object.keys(STAGE_NAMES).map((stage) => stageItem(stage, "pending", "Running")));
  $("failure").hidden = true;
  $("test-result").hidden = false;
}

function showTestResult(result) {
  const names = { passed: "Passed", failed: "Failed", skipped: "Skipped" };
  $("test-heading").textContent = result.passed
    ? `Test Connection passed (${formatTime(result.startedAt)})`
    : `Test Connection failed (${formatTime(result.startedAt)})`;
  $("stages").replaceChildren(...result.stages.map((stage) => {
    const text = `${names[stage.status] || stage.status}${stage.status === "skipped" ? "" : ` in ${stage.durationMs} ms`}`;
    return stageItem(stage.stage, stage.status, text);
  }));
  const failed = result.stages.find((stage) => stage.status === "failed");
  $("failure").hidden = !failed;
  if (failed) {
    const failure = failed.failure;
    $("failure-category").textContent = CATEGORY_NAMES[failure.category] || failure.category;
    let explanation = failure.explanation;
    if (failure.awsErrorCode) explanation += ` (AWS error ${failure.awsErrorCode}${failure.awsRequestId ? `, request ${failure.awsRequestId}` : ""})`;
    $("failure-explanation").textContent = explanation;
    const causes = $("failure-causes");
    causes.replaceChildren(...(failure.possibleCauses || []).map((cause) => {
      const item = document.createElement("li");
      item.textContent = cause;
      return item;
    }));
    $("failure-causes-block").hidden = causes.children.length === 0;
    $("failure-fix").textContent = failure.fix;
    $("fix-document-block").hidden = !failure.fixDocument;
    $("fix-document").textContent = failure.fixDocument ? JSON.stringify(failure.fixDocument, null, 2) : "";
  }
  $("test-result").hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Step 4: Save

function canSave(destination) {
  const passed = destination.latestTest?.passed && destination.latestTestCurrent;
  return Boolean(passed && (destination.status === "draft" || destination.hasPendingChanges || !destination.active));
}

function renderSave() {
  const destination = state.destination;
  const where = `s3://${destination.bucket}/${destination.folder}`;
  let text;
  if (canSave(destination)) {
    text = `The latest test passed on ${where}. Save makes it the configuration deliveries use.`;
  } else if (destination.active && !destination.hasPendingChanges) {
    text = `Saved: deliveries go to s3://${destination.active.bucket}/${destination.active.folder}. Status: ${STATUS_NAMES[destination.status]}.`;
  } else if (destination.latestTest && destination.latestTestCurrent) {
    text = "The latest test failed. Fix what step 3 shows, test again, then save.";
  } else {
    text = "Save is available once Test Connection passes on this configuration (step 3).";
  }
  $("save-state").textContent = text;
  $("save").disabled = !canSave(destination);
  $("discard").hidden = !destination.hasPendingChanges;
  $("save-errors").hidden = true;
}

async function save() {
  try {
    const { body, etag } = await api("POST", destinationPath(state.destination.id, "/save"));
    state.destination = body;
    state.etag = etag;
    announce(`Saved ${body.name}. It is ${STATUS_NAMES[body.status].toLowerCase()}.`);
    navigate("");
  } catch (error) {
    showProblem(error, $("save-errors"));
  }
}

async function discard() {
  try {
    const { body, etag } = await api("POST", destinationPath(state.destination.id, "/discard"));
    state.destination = body;
    state.etag = etag;
    announce("Changes discarded: the saved configuration is back.");
    renderSave();
  } catch (error) {
    showProblem(error, $("save-errors"));
  }
}

// ---------------------------------------------------------------------------------------------
// Identity: a tenant header in the local run, OpenID Connect (code + PKCE) when deployed

function identityReady() {
  return state.config.signIn.kind === "oidc" ? Boolean(state.token) : Boolean(state.tenant);
}

function showIdentity() {
  const kind = state.config.signIn.kind;
  $("tenant-form").hidden = kind !== "tenantHeader";
  $("signed-out").hidden = !(kind === "oidc" && !state.token);
  $("signed-in").hidden = !(kind === "oidc" && state.token);
  $("sign-in-unavailable").hidden = kind !== "unconfigured";
  if (kind === "tenantHeader") $("tenant").value = state.tenant || "";
  if (kind === "oidc" && state.token) $("signed-in-as").textContent = `Signed in as ${tokenSubject(state.token)}`;
}

function tokenSubject(token) {
  const claims = tokenClaims(token);
  return claims.email || claims["cognito:username"] || claims.sub || "you";
}

function base64Url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  return base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

function redirectUri() {
  return `${window.location.origin}/`;
}

// Redirects to the issuer. `silent` asks it not to show anything (`prompt=none`): after a reload,
// a session at the issuer signs the page in again without a click, since the token lives only
// in this page's memory.
async function signIn({ silent = false } = {}) {
  const oidc = state.config.signIn;
  const verifier = randomString();
  const challenge = base64Url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const signInState = randomString();
  const nonce = randomString();
  // Only what the round trip needs, and only until it is back.
  sessionStorage.setItem("oidc.verifier", verifier);
  sessionStorage.setItem("oidc.state", signInState);
  sessionStorage.setItem("oidc.nonce", nonce);
  sessionStorage.setItem("oidc.return", window.location.hash);
  if (silent) sessionStorage.setItem("oidc.silent", "true");
  else {
    sessionStorage.removeItem("oidc.silent");
    sessionStorage.removeItem("oidc.signed-out");
  }
  const url = new URL(oidc.authorizationEndpoint);
  const params = {
    response_type: "code",
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    state: signInState,
    nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  };
  if (silent) params.prompt = "none";
  url.search = new URLSearchParams(params).toString();
  window.location.assign(url.toString());
}

// The claims of a JWT, unverified: API Gateway verifies the signature; the page only needs to
// know whether the token was issued for its own sign-in (the nonce) and whom to greet.
function tokenClaims(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

// Back from the issuer with ?code=…&state=… (or ?error=…): trade the code and the verifier for
// tokens, and keep the ID token only if it carries this sign-in's nonce. Returns whether the
// address was an answer from the issuer.
async function finishSignIn() {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") && !params.has("error")) return false;
  const expected = sessionStorage.getItem("oidc.state");
  const verifier = sessionStorage.getItem("oidc.verifier");
  const nonce = sessionStorage.getItem("oidc.nonce");
  const silent = sessionStorage.getItem("oidc.silent") === "true";
  const returnTo = sessionStorage.getItem("oidc.return") || "";
  for (const key of ["oidc.state", "oidc.verifier", "oidc.nonce", "oidc.silent", "oidc.return"]) sessionStorage.removeItem(key);
  window.history.replaceState(null, "", `/${returnTo}`);
  if (params.has("error")) {
    // A silent attempt that the issuer cannot answer without the user (no session there, or no
    // support for prompt=none) just leaves the page signed out, with its button.
    if (silent) return true;
    throw new ApiError(0, { detail: `Sign-in failed: ${params.get("error_description") || params.get("error")}.` });
  }
  if (!expected || params.get("state") !== expected || !verifier || !nonce) {
    throw new ApiError(0, { detail: "Sign-in failed: the answer did not match this page's request. Sign in again." });
  }
  const oidc = state.config.signIn;
  const response = await fetch(oidc.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: redirectUri(),
      client_id: oidc.clientId,
      code_verifier: verifier,
    }),
    credentials: "omit",
  });
  const tokens = await response.json().catch(() => ({}));
  // The ID token carries the tenant claim and names this client as its audience.
  const token = tokens.id_token;
  if (!response.ok || !token) throw new ApiError(0, { detail: "Sign-in failed: the issuer did not return an ID token." });
  // A token issued for another sign-in (replayed, or injected into this one) is never used.
  if (tokenClaims(token).nonce !== nonce) {
    throw new ApiError(0, { detail: "Sign-in failed: the ID token was not issued for this sign-in. Sign in again." });
  }
  state.token = token;
  return true;
}

function forgetToken() {
  state.token = null;
  state.canWrite = null;
  document.body.classList.remove("read-only");
  $("read-only-note").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Start

function wire() {
  $("tenant-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!$("tenant").checkValidity()) {
      $("tenant").reportValidity();
      return;
    }
    state.tenant = $("tenant").value.trim();
    state.canWrite = null;
    localStorage.setItem("tenant", state.tenant);
    announce(`Using tenant ${state.tenant}.`);
    state.destination = null;
    render();
  });
  $("sign-in").addEventListener("click", () => signIn().catch(pageError));
  $("sign-out").addEventListener("click", () => {
    // Signed out stays signed out in this tab: no silent sign-in on the next load.
    sessionStorage.setItem("oidc.signed-out", "true");
    forgetToken();
    showIdentity();
    render();
  });
  $("new-destination").addEventListener("click", () => navigate("new"));
  $("back-to-list").addEventListener("click", () => navigate(""));
  $("history-back").addEventListener("click", () => navigate(""));
  $("list-more").addEventListener("click", () => loadList(true));
  $("create-form").addEventListener("submit", createDestination);
  $("create-form").addEventListener("input", () => { state.createKey = null; });
  for (const radio of document.querySelectorAll('input[name="authMode"]')) radio.addEventListener("change", updateOwnerHint);
  $("merge-form").addEventListener("submit", mergePolicy);
  $("rotation-start").addEventListener("click", () => rotate(""));
  $("rotation-complete").addEventListener("click", () => rotate("/complete"));
  $("rotation-cancel").addEventListener("click", () => rotate("/cancel"));
  $("connect-form").addEventListener("submit", testConnection);
  $("save").addEventListener("click", save);
  $("discard").addEventListener("click", discard);
  $("steps").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-step]");
    if (!button || button.disabled || !state.destination) return;
    navigate(`destination/${state.destination.id}/${button.dataset.step}`);
  });
  document.addEventListener("click", (event) => {
    const copyButton = event.target.closest("button.copy");
    if (copyButton) copy(copyButton);
    const next = event.target.closest("button[data-goto]");
    if (next && state.destination) navigate(`destination/${state.destination.id}/${next.dataset.goto}`);
  });
  window.addEventListener("hashchange", () => render({ focus: true }));
}

async function start() {
  wire();
  state.config = await (await fetch("/setup/config.json", { cache: "no-store" })).json();
  if (state.config.signIn.kind === "tenantHeader") state.tenant = localStorage.getItem("tenant");
  let signInError = null;
  if (state.config.signIn.kind === "oidc") {
    // The token is kept in memory only; no earlier version's copy stays behind either.
    sessionStorage.removeItem("oidc.token");
    let answered = true;
    try {
      answered = await finishSignIn();
    } catch (error) {
      signInError = error;
    }
    if (!answered && sessionStorage.getItem("oidc.signed-out") !== "true") {
      await signIn({ silent: true });
      return;
    }
  }
  showIdentity();
  await render();
  // After render, which clears the page's error box: a failed sign-in must stay on screen.
  if (signInError) pageError(signInError);
  document.body.dataset.ready = "true";
}

start().catch((error) => pageError(error));
