/** What the AWS query protocol (IAM, STS, ...) answers with: nested elements, lists as `<member>`s. */
export type XmlValue = string | number | boolean | null | undefined | XmlValue[] | { [name: string]: XmlValue };

export const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * `<name>...</name>`: an object becomes child elements in key order, an array a list of `<member>`
 * elements (the query protocol's list encoding), null and undefined nothing at all.
 */
export function xmlElement(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return `<${name}>${value.map((v) => xmlElement('member', v)).join('')}</${name}>`;
  if (typeof value === 'object') {
    return `<${name}>${Object.entries(value)
      .map(([k, v]) => xmlElement(k, v))
      .join('')}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/**
 * A query-protocol answer: `<ActionResponse xmlns=...><ActionResult>...</ActionResult>
 * <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></ActionResponse>`. Actions
 * that return nothing (UpdateRole, DeleteRole, ...) have no result element.
 */
export function queryResponse(namespace: string, action: string, result: Record<string, XmlValue> | undefined, requestId: string): string {
  const body = result === undefined ? '' : xmlElement(`${action}Result`, result) || `<${action}Result/>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${namespace}">${body}` +
    `${xmlElement('ResponseMetadata', { RequestId: requestId })}</${action}Response>`
  );
}

/** A query-protocol error, as IAM sends it: the SDKs map `Code` to their error classes. */
export function queryError(namespace: string, code: string, message: string, requestId: string, type: 'Sender' | 'Receiver' = 'Sender'): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${namespace}">` +
    `${xmlElement('Error', { Type: type, Code: code, Message: message })}${xmlElement('RequestId', requestId)}</ErrorResponse>`
  );
}
