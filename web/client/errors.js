// Meridian web client: the error the client library throws and rejects with.

/** An error from the client, with a short `code` ('NotConnected', 'Refused', ...). */
export class MeridianError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {object} [extra] copied onto the error (reason, detail, ...)
   */
  constructor(code, message, extra) {
    super(message || code);
    this.name = 'MeridianError';
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}
