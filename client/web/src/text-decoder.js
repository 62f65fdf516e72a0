// The bundle's TextDecoder (build.mjs injects it for the global): Chromium's costs ~1 µs a
// call, and yjs decodes every string of a document with its own call (a 100,000-row sheet's
// first sync is ~800,000 short strings: ~0.8 s). Short ASCII strings are decoded here in a
// fraction of that; anything else goes to the browser's decoder.
const Native = globalThis.TextDecoder;
const SHORT = 64;

export class TextDecoder extends Native {
  decode(input, options) {
    const plain = this.encoding === "utf-8" && input instanceof Uint8Array && !options?.stream;
    if (!plain || input.length > SHORT) return super.decode(input, options);
    let text = "";
    for (let i = 0; i < input.length; i += 1) {
      const byte = input[i];
      if (byte > 0x7f) return super.decode(input, options);
      text += String.fromCharCode(byte);
    }
    return text;
  }
}
