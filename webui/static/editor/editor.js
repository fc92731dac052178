// Code fields of the dashboard as CodeMirror editors.
//
// The page works without script: every code field is a plain <textarea> in its form. This
// module puts an editor in front of each `textarea[data-editor]` (and a read-only one over each
// `pre[data-editor]`), hides the textarea, and copies the editor's text back into it on every
// change, so submitting the form sends what is shown. A field carrying data-error-line (and
// optionally data-error-col and data-error-message) — the save-time error of the code that was
// refused — gets the error marked on that line, with the cursor put there.
import {
  EditorState, EditorView, basicSetup, indentWithTab, keymap, lintGutter, python, setDiagnostics,
} from "./codemirror.min.js";

function languages(kind) {
  return kind === "python" ? [python()] : [];
}

function errorRange(doc, element) {
  const number = Number(element.dataset.errorLine);
  if (!number) { return null; }
  const line = doc.line(Math.min(Math.max(number, 1), doc.lines));
  // Columns are counted from 1; past the end (an unexpected end of line) means the line end.
  const col = Math.max(Number(element.dataset.errorCol || 1), 1);
  let from = Math.min(line.from + col - 1, line.to);
  if (from >= line.to) { from = line.from; }  // mark the whole line rather than nothing
  const to = line.to > from ? line.to : Math.min(from + 1, doc.length);
  return {line, from, to};
}

function markError(view, element) {
  const range = errorRange(view.state.doc, element);
  if (!range) { return; }
  const message = element.dataset.errorMessage || "This code was refused here.";
  view.dispatch(setDiagnostics(view.state, [
    {from: range.from, to: range.to, severity: "error", message, source: "save-time check"},
  ]));
  view.dispatch({selection: {anchor: range.from},
                 effects: EditorView.scrollIntoView(range.from, {y: "center"})});
  view.dom.dataset.errorLine = String(range.line.number);
}

// CodeMirror adds its styles in <style> elements, which the page's policy lets in only with
// this response's nonce.
const nonce = document.querySelector('meta[name="syncstudio-style-nonce"]')?.content;

function editorFor(element) {
  const readOnly = element.tagName !== "TEXTAREA";
  const rows = Number(element.getAttribute("rows")) || 12;
  const extensions = [
    basicSetup,
    keymap.of([indentWithTab]),
    lintGutter(),
    ...(nonce ? [EditorView.cspNonce.of(nonce)] : []),
    ...languages(element.dataset.editor),
    EditorView.theme({
      ".cm-content, .cm-gutter": {minHeight: `${Math.max(rows, 3) * 1.45}em`},
    }),
  ];
  if (readOnly) {
    extensions.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
  } else {
    extensions.push(EditorView.updateListener.of((update) => {
      if (update.docChanged) { element.value = update.state.doc.toString(); }
    }));
  }
  const text = readOnly ? element.textContent : element.value;
  const view = new EditorView({state: EditorState.create({doc: text, extensions})});
  view.dom.classList.add("code-editor");
  view.dom.dataset.for = element.name || "";
  element.insertAdjacentElement("afterend", view.dom);
  element.hidden = true;
  element.classList.add("enhanced");
  if (!readOnly) {
    // What the browser checks (required, …) stays on the hidden field; the editor shows it.
    element.form?.addEventListener("submit", () => { element.value = view.state.doc.toString(); });
    const label = element.closest("label");
    label?.addEventListener("click", (event) => {
      if (event.target === label) { view.focus(); }
    });
  }
  markError(view, element);
  element.editorView = view;  // for scripts driving the page, e.g. the browser tests
  return view;
}

for (const element of document.querySelectorAll("textarea[data-editor], pre[data-editor]")) {
  if (!element.classList.contains("enhanced")) { editorFor(element); }
}
