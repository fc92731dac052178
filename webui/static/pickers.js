// Field pickers of the DB trigger forms: when the model changes, its fields are fetched from the
// dashboard (which asks the connection's Odoo, cached) and the watched-fields and date-field
// inputs become lists to pick from. When Odoo cannot be asked, the inputs stay free text and the
// note under the model says why. Without script the server renders the same lists for a known
// model, and free text otherwise.
function option(value, label, selected) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = label;
  element.selected = selected;
  return element;
}

function chosenOf(element) {
  if (element.tagName === "SELECT") {
    return [...element.selectedOptions].map((o) => o.value).filter(Boolean);
  }
  return element.value.split(/[\s,]+/).filter(Boolean);
}

function freeText(old, name, placeholder) {
  if (old.tagName !== "SELECT") { return; }
  const input = document.createElement("input");
  input.name = name;
  input.dataset.picker = old.dataset.picker;
  input.placeholder = placeholder;
  input.value = chosenOf(old).join(", ");
  old.replaceWith(input);
}

function pickList(old, name, fields, multiple) {
  const chosen = chosenOf(old);
  const select = document.createElement("select");
  select.name = name;
  select.dataset.picker = old.dataset.picker;
  if (multiple) { select.multiple = true; select.size = 8; } else {
    select.append(option("", "—", false));
  }
  const known = new Set(fields.map((f) => f.name));
  for (const name of chosen) {
    if (!known.has(name)) { select.append(option(name, `${name} (not in Odoo)`, true)); }
  }
  for (const f of fields) {
    select.append(option(f.name, `${f.label} (${f.name})`, chosen.includes(f.name)));
  }
  old.replaceWith(select);
}

async function refresh(modelInput) {
  const form = modelInput.form;
  const note = form.querySelector(".picker-note");
  const model = modelInput.value.trim();
  const watched = form.querySelector("[data-picker=watched]");
  const date = form.querySelector("[data-picker=date]");
  if (!model) { return; }
  let answer;
  try {
    const response = await fetch(`${modelInput.dataset.fieldsUrl}?model=${encodeURIComponent(model)}`,
                                 {credentials: "same-origin", headers: {Accept: "application/json"}});
    answer = await response.json();
  } catch (error) {
    answer = {error: "The dashboard did not answer; type the field names."};
  }
  if (modelInput.value.trim() !== model) { return; }  // typed on meanwhile: a newer answer comes
  if (answer.error) {
    note.textContent = answer.error;
    note.dataset.error = "";
    freeText(watched, "watched_fields", "email, phone");
    freeText(date, "date_field", "date_deadline");
    note.dataset.loaded = model;
    return;
  }
  delete note.dataset.error;
  note.textContent = `Fields of ${model} as Odoo lists them.`;
  pickList(watched, "watched_fields", answer.fields, true);
  pickList(date, "date_field", answer.fields.filter((f) => f.type === "date" || f.type === "datetime"), false);
  note.dataset.loaded = model;  // the lists are in place (scripts driving the page wait for it)
}

for (const input of document.querySelectorAll("input[name=model][data-fields-url]")) {
  let last = input.value.trim();
  input.addEventListener("change", () => {
    if (input.value.trim() !== last) { last = input.value.trim(); refresh(input); }
  });
}
