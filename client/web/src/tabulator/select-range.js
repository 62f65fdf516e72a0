// Tabulator's range selection, without two costs that grow with the rows of the table: it
// restyled every row whenever the table rendered, creating the DOM of rows never shown; and
// before a new range has its bounds (a tick after it is made) it looked for the range's first
// row through every row, each check itself a scan (quadratic). At 100,000 rows that was
// about a second of the first render.
import { SelectRangeModule } from "tabulator-tables";

export class SelectRange extends SelectRangeModule {
  initializeWatchers() {
    super.initializeWatchers();
    this.subscribe("row-init", (row) => this.layoutRow(row));
  }

  /** Rows without DOM are styled when it is made (row-init). */
  layoutRow(row) {
    if (row.created) super.layoutRow(row);
  }

  getActiveCell() {
    return this.activeRange?.start.row === undefined ? undefined : super.getActiveCell();
  }
}
