// Undo and Redo are enabled only when this user has something to undo or redo.

/** Keeps the `undo` and `redo` buttons under `root` in step with `sheet`'s undo manager. */
export function followHistory(root, sheet) {
  const undo = root.querySelector("[data-testid=undo]");
  const redo = root.querySelector("[data-testid=redo]");
  if (!undo || !redo) return;
  const manager = sheet.undoManager;
  const update = () => {
    undo.disabled = !manager.canUndo();
    redo.disabled = !manager.canRedo();
  };
  for (const event of ["stack-item-added", "stack-item-popped", "stack-cleared"]) manager.on(event, update);
  update();
}
