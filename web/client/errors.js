// Meridian web client: the error the client library throws and rejects with.

/**
 * What went wrong: 'NotConnected', 'Refused' (with `reason` and `detail`),
 * 'Disconnected', 'Closed', 'Timeout', 'BadJoin', 'ConnectFailed',
 * 'Unsupported' or 'VoiceRefused' (with `reason` and `detail`).
 * @typedef {'NotConnected'|'Refused'|'VoiceRefused'|'Disconnected'|'Closed'|'Timeout'|'BadJoin'|'ConnectFailed'|'Unsupported'} MeridianErrorCode
 */

/** An error from the client, with a short `code` ('NotConnected', 'Refused', ...). */
export class MeridianError extends Error {
  /**
   * @param {MeridianErrorCode} code
   * @param {string} [message]
   * @param {{reason?: string, detail?: string, request?: number}} [extra] copied onto the error
   */
  constructor(code, message, extra) {
    super(message || code);
    this.name = 'MeridianError';
    this.code = code;
    // Declarations for TypeScript only (reading them does nothing):
    /** The server's reason, with 'Refused' and 'Disconnected'. @type {string | undefined} */
    this.reason;
    /** The server's detail, with 'Refused' and 'Disconnected'. @type {string | undefined} */
    this.detail;
    /** The inventory request that timed out, with 'Timeout'. @type {number | undefined} */
    this.request;
    if (extra) Object.assign(this, extra);
  }
}
