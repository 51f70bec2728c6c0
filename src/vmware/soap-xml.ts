// The few pieces of XML a vim25 SOAP client needs: escaping, elements by local name, a managed
// object reference, and the fault of an answer (vSphere Web Services API, "SOAP messages").

import { DOMParser, type Element } from '@xmldom/xmldom';

/** A managed object reference: its type and its id ("VirtualMachine", "vm-42"). */
export interface MoRef {
  readonly type: string;
  readonly value: string;
}

export function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function moRefXml(name: string, ref: MoRef): string {
  return `<${name} type="${xmlEscape(ref.type)}">${xmlEscape(ref.value)}</${name}>`;
}

export function envelope(body: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">' +
    `<soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`
  );
}

export function parseXml(text: string): Element | undefined {
  try {
    return new DOMParser({ onError: () => undefined }).parseFromString(text, 'text/xml').documentElement ?? undefined;
  } catch {
    return undefined;
  }
}

export function childElements(parent: Element, name?: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === 1 && (name === undefined || (node as Element).localName === name))
      found.push(node as Element);
  }
  return found;
}

export function child(parent: Element, name: string): Element | undefined {
  return childElements(parent, name)[0];
}

// The text of a child element, or undefined when it is absent.
export function childText(parent: Element, name: string): string | undefined {
  const found = child(parent, name);
  return found === undefined ? undefined : (found.textContent ?? '');
}

/** The xsi:type of an element without its prefix ("VirtualDisk"). */
export function xsiType(element: Element): string | undefined {
  const type =
    element.getAttributeNS('http://www.w3.org/2001/XMLSchema-instance', 'type') || element.getAttribute('xsi:type');
  return type ? type.replace(/^.*:/, '') : undefined;
}

export function moRefOf(element: Element): MoRef {
  return { type: element.getAttribute('type') ?? '', value: element.textContent ?? '' };
}

/** The first element named `name` anywhere under `root` (the SOAP body's answer). */
export function descendant(root: Element, name: string): Element | undefined {
  const all = root.getElementsByTagNameNS('*', name);
  return all.length > 0 ? (all[0] as Element) : undefined;
}

/** A SOAP fault: its words, the vim25 fault type in its detail ("InvalidLogin") and, for an InvalidArgument, the parameter it names. */
export interface SoapFault {
  readonly message: string;
  readonly type?: string;
  readonly invalidProperty?: string;
}

export function faultOf(root: Element): SoapFault | undefined {
  const fault = descendant(root, 'Fault');
  if (fault === undefined) return undefined;
  const detail = child(fault, 'detail');
  const first = detail === undefined ? undefined : childElements(detail)[0];
  const type = first === undefined ? undefined : (xsiType(first) ?? (first.localName ?? '').replace(/Fault$/, ''));
  const invalidProperty = first === undefined ? undefined : childText(first, 'invalidProperty')?.trim();
  return {
    message: (childText(fault, 'faultstring') ?? 'SOAP fault').trim(),
    type,
    ...(invalidProperty ? { invalidProperty } : {}),
  };
}
