// The side panel (people, refusals) folds away: open by default on a wide screen, closed on a
// phone, where the grid comes first.
const NARROW = "(max-width: 700px)";

export function followPanel(root) {
  const toggle = root.querySelector("[data-testid=panel-toggle]");
  if (!toggle) return;
  const show = (open) => {
    root.dataset.panel = open ? "open" : "closed";
    toggle.setAttribute("aria-expanded", String(open));
  };
  show(!window.matchMedia(NARROW).matches);
  toggle.addEventListener("click", () => show(root.dataset.panel !== "open"));
}
