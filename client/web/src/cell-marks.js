// Marks on cells that a grid re-renders at will (virtual scrolling): other users' selections
// outlined in their colour with their name, and cells the server refused, flashing with the
// reason. Drawn as CSS rules keyed by row key and column, so rows scrolled into view later get
// them too, and no grid cell is touched. The rules live in a constructed style sheet, which the
// page's Content-Security-Policy allows where it refuses inline <style>; what other users sent
// reaches them only as checked colours and quoted strings.
import { checkedColour } from "./presence.js";

/** Quotes text as a CSS string (for `content:` and attribute selectors). */
export function cssString(text) {
  return `"${String(text).replace(/[\\"\n\r\f]/g, (c) => `\\${c.charCodeAt(0).toString(16)} `)}"`;
}

const LABEL =
  "position: absolute; top: 0; right: 0; z-index: 5; padding: 0 3px; font: 10px/1.3 sans-serif; " +
  "color: #fff; white-space: nowrap; pointer-events: none;";
const REASON =
  "position: absolute; inset: 0; z-index: 6; padding: 0 4px; font: 11px/1.6 sans-serif; " +
  "color: #fff; background: #c00; overflow: hidden; white-space: nowrap;";

const FLASH = "@keyframes cellsync-refused { 50% { background: #fbb; } }";

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

  /** others: [{id, name, colour, cursor: {row, column} | null}] */
  showPresence(others) {
    this.presence = others
      .filter((person) => person.cursor)
      .map((person) => {
        const cell = this.selector(person.cursor.row, person.cursor.column);
        const colour = checkedColour(person.colour, person.id);
        return (
          `${cell} { outline: 2px solid ${colour}; outline-offset: -2px; position: relative; overflow: visible; }\n` +
          `${cell}::before { ${LABEL} content: ${cssString(person.name)}; background: ${colour}; }`
        );
      })
      .join("\n");
    this.render();
  }

  /** cells: [{row, column, reason}] (Refusals.list()). */
  showRefusals(cells) {
    this.refusals = cells
      .map(({ row, column, reason }) => {
        const selector = this.selector(row, column);
        return (
          `${selector} { position: relative; animation: cellsync-refused 0.6s 3; box-shadow: inset 0 0 0 2px #c00; }\n` +
          `${selector}:hover::after { ${REASON} content: ${cssString(reason)}; }`
        );
      })
      .join("\n");
    this.render();
  }

  render() {
    this.sheet.replaceSync(`${FLASH}\n${this.presence}\n${this.refusals}`);
  }

  destroy() {
    this.document.adoptedStyleSheets = this.document.adoptedStyleSheets.filter((sheet) => sheet !== this.sheet);
  }
}
