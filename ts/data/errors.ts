// Errors thrown by readers, converters and scorers. Every error carries a stable `code`
// and, where it comes from a file, a message that starts with `file:line:`.
export type BiomegErrorCode =
  | 'BIOMEG_BAD_DATA' // malformed input file (columns, tags, JSON fields)
  | 'BIOMEG_MISMATCH' // prediction file does not line up with the gold file
  | 'BIOMEG_IO' // file missing or unreadable
  | 'BIOMEG_CHECKSUM' // downloaded file has the wrong sha256
  | 'BIOMEG_DOWNLOAD' // HTTP failure
  | 'BIOMEG_USAGE'; // bad arguments

import { BiomegError } from '../errors.js';
export { BiomegError };

export function badData(file: string, line: number | undefined, message: string): BiomegError {
  return new BiomegError('BIOMEG_BAD_DATA', message, { file, line });
}
