/** Small helpers to build DOM nodes without HTML strings (nothing is parsed as markup). */

export type Child = Node | string | number | null | undefined | false;
export type Attributes = Readonly<Record<string, string | number | boolean | null | undefined>>;

/**
 * An element with attributes and children. `class` sets the class list; a boolean attribute is
 * present when true and absent when false; null and undefined attributes are left out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A button (type=button) calling `onClick`; `action` sets `data-action` for tests. */
export function button(
  label: string,
  onClick: (event: MouseEvent) => void,
  attributes: Attributes = {},
): HTMLButtonElement {
  const b = h("button", { type: "button", ...attributes }, label);
  b.addEventListener("click", onClick);
  return b;
}

/** A table with a header row and a body; returns both so the body can be refilled. */
export function table(
  headers: readonly string[],
  attributes: Attributes = {},
): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = h("tbody");
  const t = h(
    "table",
    { class: "grid", ...attributes },
    h("thead", {}, h("tr", {}, ...headers.map((text) => h("th", { scope: "col" }, text)))),
    body,
  );
  return { table: t, body };
}

/** A table cell; `className` for alignment or tone. */
export function cell(content: Child | readonly Child[], className?: string): HTMLTableCellElement {
  const td = h("td", { class: className });
  append(td, Array.isArray(content) ? content : [content as Child]);
  return td;
}

/** A small coloured label; tone is a CSS modifier ("ok", "bad", "warn", "busy"). */
export function badge(text: string, tone: string, title?: string): HTMLSpanElement {
  return h("span", { class: tone === "" ? "badge" : `badge badge-${tone}`, title }, text);
}

/** A labelled form control: `<label>text <control></label>`. */
export function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, text), control);
}

/** A <select> with (value, label) options and `selected` chosen. */
export function select(
  options: readonly (readonly [string, string])[],
  selected: string,
  attributes: Attributes = {},
): HTMLSelectElement {
  const s = h("select", attributes);
  for (const [value, label] of options) {
    const option = h("option", { value }, label);
    option.selected = value === selected;
    s.append(option);
  }
  return s;
}
