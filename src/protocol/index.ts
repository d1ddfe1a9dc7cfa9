// Public surface of src/protocol: the FUSE wire codec (protocol 7.45). Pure: no I/O, no Node fs.
export * from './constants';
export * from './init-flags';
export * from './types';
export * from './requests';
export { OPCODE_TABLE, opcodeRow, opcodeName } from './opcodes';
export type { OpcodeRow, ReplyKind } from './opcodes';
export { decodeRequest, decodeInHeader, parseExtensions, DEFAULT_DECODE_CONTEXT } from './decode';
export type { Extension } from './decode';
export {
  OUT_HEADER_SIZE,
  encodeErrorReply,
  encodeEmptyReply,
  encodeDataReplyHeader,
  encodeDataReply,
  encodeEntryReply,
  encodeAttrReply,
  encodeOpenReply,
  encodeCreateReply,
  encodeWriteReply,
  encodeCopyFileRange64Reply,
  encodeStatfsReply,
  encodeXattrSizeReply,
  encodeLkReply,
  encodeBmapReply,
  encodePollReply,
  encodeLseekReply,
  encodeIoctlReply,
  encodeStatxReply,
  encodeCuseInitReply,
} from './reply';
export { DirentBuffer, DirentPlusBuffer, direntType, direntSize, direntPlusSize } from './dirent';
export * from './notify';
export { negotiateInit, encodeInitReply, initOutSize } from './init';
export type { InitOffer, InitWants, InitOut, InitResult, NegotiatedInit } from './init';
export * from './ioctl';
export { Errno, errnoNumber, errnoName, errnoFromError, errnoOfError } from './errors';
export type { ErrnoName } from './errors';
export { describeRequest, describeDecodeError } from './debug';
