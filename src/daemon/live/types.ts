/**
 * The shapes of what a device transport tells the root about a device beyond the core's model: its host process,
 * its screen as frames, and the host's figures read from /proc. Plain data.
 */

/** A device's host process (one per device, under a uid of its own), as the transport that started it knows it. */
export interface HostProcess {
  readonly pid: number;
  readonly uid: number;
}

/** A host process with its figures from /proc, read in the root. */
export interface HostStats extends HostProcess {
  readonly rssBytes: number;
  readonly cpuSeconds: number;
}

/**
 * One frame of a device's screen: the PNG and its entity tag, or only the tag when the frame still matches the
 * `ifNoneMatch` the caller gave (nothing was encoded). Tags are opaque tokens (no quotes); equal tags mean equal
 * pixels, format and size.
 */
export type ScreenFrame = { readonly png: Buffer; readonly etag: string } | { readonly unchanged: true; readonly etag: string };

/** What `frame` takes. */
export interface FrameOptions {
  /** The tag of the frame the caller has; a frame with the same tag comes back as `unchanged`. */
  readonly ifNoneMatch?: string;
}
