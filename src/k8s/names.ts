/**
 * Concepts: the name formats Kubernetes checks (apimachinery's `validation` package): DNS-1123 labels (device
 * names, counter names) and subdomains (driver, node, object and pool names), C identifiers and qualified names
 * (device attribute and capacity keys), extended resource names (device plugin resources). Each `…Problem` returns
 * what is wrong in words, or undefined; `toDnsLabel` turns an mdev parent or type name into a label.
 */

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const C_IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A qualified name's name part (label keys, extended resource names): alphanumerics and `-_.` inside. */
const QUALIFIED_PART_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** RFC 1123 label: 1–63 lower-case alphanumerics or `-`, starting and ending alphanumeric. */
export function dnsLabelProblem(s: string): string | undefined {
  if (s.length === 0 || s.length > 63) return 'a DNS label of 1 to 63 characters';
  return LABEL_RE.test(s) ? undefined : 'a DNS label (lower-case letters, digits and "-", starting and ending with a letter or digit)';
}

/** RFC 1123 subdomain: at most 253 characters, labels separated by dots. */
export function dnsSubdomainProblem(s: string, max = 253): string | undefined {
  if (s.length === 0 || s.length > max) return `a DNS subdomain of 1 to ${max} characters`;
  return s.split('.').every((l) => LABEL_RE.test(l)) ? undefined : 'a DNS subdomain (DNS labels separated by ".")';
}

/** A C identifier of at most `max` characters. */
export function cIdentifierProblem(s: string, max = 32): string | undefined {
  if (s.length === 0 || s.length > max) return `a C identifier of 1 to ${max} characters`;
  return C_IDENT_RE.test(s) ? undefined : 'a C identifier (letters, digits and "_", not starting with a digit)';
}

/**
 * A device attribute or capacity name (resource.k8s.io `QualifiedName`): a C identifier of at most 32 characters,
 * optionally after a DNS subdomain of at most 63 characters and a "/".
 */
export function deviceQualifiedNameProblem(s: string): string | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return cIdentifierProblem(s);
  const domain = s.slice(0, slash);
  return dnsSubdomainProblem(domain, 63) ?? cIdentifierProblem(s.slice(slash + 1));
}

/** An extended resource name: `<DNS subdomain>/<name>`, the name 1–63 alphanumerics and `-_.`, not under kubernetes.io. */
export function extendedResourceProblem(s: string): string | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return 'a resource name of the form <domain>/<name>, e.g. umdev.io/mtty-mtty-2';
  const domain = s.slice(0, slash);
  const name = s.slice(slash + 1);
  const bad = dnsSubdomainProblem(domain);
  if (bad !== undefined) return `a resource name whose domain is ${bad}`;
  if (domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io')) return 'a resource name outside the kubernetes.io domain';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_PART_RE.test(name)) {
    return 'a resource name whose name part is 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  }
  return undefined;
}

/** `text` as a DNS label of at most `max` characters: lower case, runs of other characters as one "-". */
export function toDnsLabel(text: string, max = 63): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
  return s === '' ? 'x' : s;
}
