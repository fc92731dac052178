// The parts of CodeMirror 6 the dashboard uses, re-exported as one ES module
// (built into codemirror.min.js by refresh.sh; editor.js imports it).
export { basicSetup } from "codemirror";
export { EditorView, keymap } from "@codemirror/view";
export { EditorState } from "@codemirror/state";
export { indentWithTab } from "@codemirror/commands";
export { python } from "@codemirror/lang-python";
export { setDiagnostics, lintGutter } from "@codemirror/lint";
