// Marks on cells that a grid re-renders at will (virtual scrolling): other users' selected
// ranges outlined in their colour, with their name in a tag above the range (below it on the
// first row) so it never covers the range's values, fading after a few seconds so it does not
// hide its neighbours' for long either, and cells the server refused, flashing, with
// the reason under the cell on hover. Drawn as CSS rules keyed by row key and column, so rows
// scrolled into view later get them too, and no grid cell is touched. The rules live in a constructed style sheet, which the
// page's Content-Security-Policy allows where it refuses inline <style>; what other users sent
// reaches them only as checked colours and quoted strings.
import { checkedColour } from "./presence.js";

/** Quotes text as a CSS string (for `content:` and attribute selectors). */
export function cssString(text) {
  return `"${String(text).replace(/[\\"\n\r\f]/g, (c) => `\\${c.charCodeAt(0).toString(16)} `)}"`;
}

const LABEL =
  "position: absolute; left: -1px; z-index: 12; padding: 1px 5px; font: 11px/1.3 system-ui, sans-serif; " +
  "color: #fff; white-space: nowrap; pointer-events: none; border-radius: 3px;";
const REASON =
  "position: absolute; top: 100%; left: 0; z-index: 13; width: max-content; max-width: 20rem; " +
  "padding: 4px 8px; font: 13px/1.4 system-ui, sans-serif; white-space: normal; color: #5c0000; " +
  "background: #fff4f4; border: 1px solid #c00; border-radius: 4px; box-shadow: 0 2px 6px #0003; " +
  "pointer-events: none;";
const ONE_CELL = ({ cursor }) => ({ runs: [[cursor.row]], columns: [cursor.column], firstRow: false });
// Ranges taller than this are outlined on their first rows only: the rules are one per cell.
const MAX_OUTLINED_ROWS = 2000;

// A name tag shows for a few seconds after its user moves, and again while the range is hovered.
const KEYFRAMES =
  "@keyframes cellsync-refused { 50% { background: #fbb; } }\n" +
  "@keyframes cellsync-tag { 0%, 80% { opacity: 1; } 100% { opacity: 0; } }";

export class CellMarks {
  /** `selector(rowKey, column)`: the CSS selector of one cell in this grid, or of the whole
   * row's cells when column is "". */
  constructor(selector, document = window.document) {
    this.selector = selector;
    this.document = document;
    this.sheet = new document.defaultView.CSSStyleSheet();
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, this.sheet];
    this.presence = "";
    this.refusals = "";
  }

  /** others: [{id, name, colour, cursor: {row, column} | null, selection: {start, end} | null}];
   * `span(person)`: `runs`, the rows (keys) of their range in runs shown next to each other
   * (top first), its `columns` (left first), and `firstRow`: whether it starts on the grid's
   * first row (the tag then goes under the first run). */
  showPresence(others, span = ONE_CELL) {
    this.presence = others
      .filter((person) => person.cursor)
      .map((person) => this.rangeRules(person, span(person)))
      .join("\n");
    this.render();
  }

  /** Each run's border, drawn as inset shadows on its edge cells (grouped by which edges each
   * cell has), and the name tag on the first run's top-left cell. */
  rangeRules(person, { runs, columns, firstRow }) {
    const colour = checkedColour(person.colour, person.id);
    const byShadow = new Map();
    let budget = MAX_OUTLINED_ROWS;
    const outlined = [];
    for (const run of runs) {
      if (budget <= 0) break;
      const shown = run.slice(0, budget);
      budget -= shown.length;
      outlined.push(shown);
      this.outline(shown, run.length - 1, columns, colour, byShadow);
    }
    if (!outlined.length) return "";
    const first = outlined[0];
    const tagged = this.selector(firstRow ? first.at(-1) : first[0], columns[0]);
    const side = firstRow ? "top: 100%; margin-top: 1px" : "bottom: 100%; margin-bottom: 1px";
    return [
      ...[...byShadow].map(([shadow, cells]) => `${cells.join(",\n")} { box-shadow: ${shadow}; }`),
      `${tagged} { position: relative; overflow: visible; }`,
      `${tagged}::before { ${LABEL} ${side}; content: ${cssString(person.name)}; background: ${colour}; ` +
        "animation: cellsync-tag 4s forwards; }",
      `${tagged}:hover::before { animation: none; opacity: 1; }`,
    ].join("\n");
  }

  /** Adds the selectors of one run's edge cells to `byShadow` (shadow -> selectors); `lastRow`:
   * the index of the run's last row (beyond `rows` when only its first rows are outlined). */
  outline(rows, lastRow, columns, colour, byShadow) {
    const lastColumn = columns.length - 1;
    rows.forEach((row, i) => {
      const inner = i > 0 && i < lastRow;
      columns.forEach((column, j) => {
        if (inner && j > 0 && j < lastColumn) return;
        const edges = [];
        if (i === 0) edges.push(`inset 0 2px 0 ${colour}`);
        if (i === lastRow) edges.push(`inset 0 -2px 0 ${colour}`);
        if (j === 0) edges.push(`inset 2px 0 0 ${colour}`);
        if (j === lastColumn) edges.push(`inset -2px 0 0 ${colour}`);
        const shadow = edges.join(", ");
        if (!byShadow.has(shadow)) byShadow.set(shadow, []);
        byShadow.get(shadow).push(this.selector(row, column));
      });
    });
  }

  /** cells: [{row, column, reason}] (Refusals.list()). */
  showRefusals(cells) {
    this.refusals = cells
      .map(({ row, column, reason }) => {
        const selector = this.selector(row, column);
        return (
          `${selector} { position: relative; animation: cellsync-refused 0.6s 3; box-shadow: inset 0 0 0 2px #c00; }\n` +
          `${selector}:hover { overflow: visible; z-index: 13; }\n` +
          `${selector}:hover::after { ${REASON} content: ${cssString(reason)}; }`
        );
      })
      .join("\n");
    this.render();
  }

  render() {
    this.sheet.replaceSync(`${KEYFRAMES}\n${this.presence}\n${this.refusals}`);
  }

  destroy() {
    this.document.adoptedStyleSheets = this.document.adoptedStyleSheets.filter((sheet) => sheet !== this.sheet);
  }
}
