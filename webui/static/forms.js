// Forms that ask before they act: a form with data-confirm="question" submits only once the
// question is answered OK. (The pages' policy forbids inline handlers such as onsubmit=.)
// Loaded as a module, so a page that includes it several times runs it once.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) { event.preventDefault(); }
}, true);
document.addEventListener("click", (event) => {
  if (event.target.matches?.("input[data-select-on-click]")) { event.target.select(); }
});
