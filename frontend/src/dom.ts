// Building the DOM without innerHTML: every string becomes a text node, so user text is inert.

type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined | ((ev: any) => void);
export type Attrs = Record<string, AttrValue>;

const PROPS = new Set(["value", "checked", "disabled", "selected", "multiple", "hidden"]);

/** Create an element: attributes (on* → listeners, testid → data-testid), then children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el: HTMLElement, attrs: Attrs): void {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      if (PROPS.has(key)) (el as any)[key] = false;
      continue;
    }
    if (typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = String(value);
    } else if (key === "testid") {
      el.dataset.testid = String(value);
    } else if (PROPS.has(key)) {
      (el as any)[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace all children of an element. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/**
 * Note the focused control and its caret; the function returned puts them back.
 *
 * A page that re-renders around kept elements (an open form moved into a fresh row) calls it
 * first: moving a node drops its focus, which closes a phone's keyboard mid-word and sends the
 * next keystrokes nowhere.
 */
export function keepFocus(): () => void {
  const focused = document.activeElement;
  if (!(focused instanceof HTMLElement) || focused === document.body) return () => undefined;
  const text = focused instanceof HTMLInputElement || focused instanceof HTMLTextAreaElement ? focused : null;
  const caret = text ? [text.selectionStart, text.selectionEnd] as const : null;
  return () => {
    if (!focused.isConnected || document.activeElement === focused) return;
    focused.focus({ preventScroll: true });
    if (text && caret) text.setSelectionRange(caret[0], caret[1]);
  };
}

/** Escape text for the rare place a string of HTML is unavoidable. */
export function esc(text: unknown): string {
  return String(text ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

/** A persistent row in a keyed list: built once, updated in place, so open forms survive. */
export interface Row<T> {
  el: HTMLElement;
  update(item: T): void;
}

const rowsOf = new WeakMap<HTMLElement, Map<string, Row<any>>>();

/** Show items in order inside container, reusing each item's row by key. */
export function reconcile<T>(
  container: HTMLElement,
  items: T[],
  keyOf: (item: T) => string,
  make: (item: T) => Row<T>,
): void {
  let rows = rowsOf.get(container) as Map<string, Row<T>> | undefined;
  if (!rows) {
    rows = new Map();
    rowsOf.set(container, rows);
    container.replaceChildren();
  }
  const seen = new Set<string>();
  let i = 0;
  for (const item of items) {
    const key = keyOf(item);
    seen.add(key);
    let row = rows.get(key);
    if (!row) {
      row = make(item);
      rows.set(key, row);
    }
    row.update(item);
    const at = container.children[i] ?? null;
    if (at !== row.el) container.insertBefore(row.el, at);
    i++;
  }
  for (const [key, row] of rows) {
    if (!seen.has(key)) {
      row.el.remove();
      rows.delete(key);
    }
  }
}

/** Call fn at most once per wait ms, after the calls stop (trailing debounce). */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, wait: number) {
  let timer = 0;
  const call = (...args: A) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), wait);
  };
  call.cancel = () => window.clearTimeout(timer);
  return call;
}

/** A v4 UUID; crypto.randomUUID exists only in secure contexts (not on http://LAN-IP). */
export function uuid4(): string {
  if (typeof crypto.randomUUID === "function" && window.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
