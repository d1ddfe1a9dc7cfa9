// Minimal declarations for buffer-layout 1.2.2, which ships no types. Only what src/protocol and
// its tests use: struct/scalar factories, span, offsetOf, and the generic encode/decode that the
// tests use as the reference implementation for our fast accessors.
declare module 'buffer-layout' {
  export class Layout<T = any> {
    span: number;
    property?: string;
    decode(b: Buffer, offset?: number): T;
    encode(src: T, b: Buffer, offset?: number): number;
    getSpan(b?: Buffer, offset?: number): number;
    replicate(property: string): this;
  }
  export class Structure<T = any> extends Layout<T> {
    fields: Layout[];
    offsetOf(property: string): number | undefined;
    layoutFor(property: string): Layout | undefined;
  }
  export class Sequence<T = any> extends Layout<T[]> {
    elementLayout: Layout<T>;
    count: number;
  }
  export class UInt extends Layout<number> {}
  export class Int extends Layout<number> {}
  export class NearUInt64 extends Layout<number> {}
  export class NearInt64 extends Layout<number> {}
  export class Blob extends Layout<Buffer> {}

  export function u8(property?: string): UInt;
  export function u16(property?: string): UInt;
  export function u32(property?: string): UInt;
  export function s8(property?: string): Int;
  export function s16(property?: string): Int;
  export function s32(property?: string): Int;
  export function nu64(property?: string): NearUInt64;
  export function ns64(property?: string): NearInt64;
  export function struct<T = any>(fields: Layout[], property?: string, decodePrefixes?: boolean): Structure<T>;
  export function seq<T = any>(elementLayout: Layout<T>, count: number, property?: string): Sequence<T>;
  export function blob(length: number, property?: string): Blob;
}
