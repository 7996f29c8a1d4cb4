// Declarative C struct layouts: offsets come from field order and x86_64 (LP64) alignment rules,
// never from hand-computed numbers. Every struct names the public header it mirrors.

/** One C type: its size, alignment and how to read/write it in a DataView (little-endian). */
export interface CType<Out, In = Out> {
  readonly kind: string;
  readonly size: number;
  readonly align: number;
  read(view: DataView, offset: number): Out;
  write(view: DataView, offset: number, value: In): void;
}

/** The JS value a field decodes to. */
export type OutOf<T> = T extends CType<infer O, unknown> ? O : never;
/** The JS value a field accepts when encoding. */
export type InOf<T> = T extends CType<unknown, infer I> ? I : never;

type AnyCType = CType<unknown, never>;
/** Fields of a struct, in declaration order (JS keeps string-key insertion order). */
export type FieldMap = Readonly<Record<string, AnyCType>>;
/** A decoded struct value. */
export type Decoded<F extends FieldMap> = { -readonly [K in keyof F]: OutOf<F[K]> };
/** A struct value to encode; missing fields are written as zero. */
export type Encodable<F extends FieldMap> = { [K in keyof F]?: InOf<F[K]> };

/**
 * A scalar's DataView accessors by name, so struct() can compile a struct's read/write into one
 * function with the accessor calls inlined (`conv` is applied to the value before the setter).
 */
interface ScalarAccess {
  readonly get: string;
  readonly set: string;
  readonly conv: 'none' | 'u32' | 'u64' | 'i64';
}

type ScalarCType<V> = CType<V> & { readonly access: ScalarAccess };

function scalar<V>(kind: string, size: number, access: ScalarAccess, read: (v: DataView, o: number) => V, write: (v: DataView, o: number, x: V) => void): ScalarCType<V> {
  return { kind, size, align: size, access, read, write };
}

/** uint8_t */
export const u8 = scalar<number>('u8', 1, { get: 'getUint8', set: 'setUint8', conv: 'none' }, (v, o) => v.getUint8(o), (v, o, x) => v.setUint8(o, x));
/** uint16_t (also domid_t) */
export const u16 = scalar<number>('u16', 2, { get: 'getUint16', set: 'setUint16', conv: 'none' }, (v, o) => v.getUint16(o, true), (v, o, x) => v.setUint16(o, x, true));
/** int16_t */
export const i16 = scalar<number>('i16', 2, { get: 'getInt16', set: 'setInt16', conv: 'none' }, (v, o) => v.getInt16(o, true), (v, o, x) => v.setInt16(o, x, true));
/** uint32_t */
export const u32 = scalar<number>('u32', 4, { get: 'getUint32', set: 'setUint32', conv: 'u32' }, (v, o) => v.getUint32(o, true), (v, o, x) => v.setUint32(o, x >>> 0, true));
/** int32_t */
export const i32 = scalar<number>('i32', 4, { get: 'getInt32', set: 'setInt32', conv: 'none' }, (v, o) => v.getInt32(o, true), (v, o, x) => v.setInt32(o, x, true));
/** uint64_t / uint64_aligned_t / unsigned long / xen_pfn_t / xen_ulong_t on x86_64 */
export const u64 = scalar<bigint>('u64', 8, { get: 'getBigUint64', set: 'setBigUint64', conv: 'u64' }, (v, o) => v.getBigUint64(o, true), (v, o, x) => v.setBigUint64(o, BigInt.asUintN(64, x), true));
/** int64_t / int64_aligned_t */
export const i64 = scalar<bigint>('i64', 8, { get: 'getBigInt64', set: 'setBigInt64', conv: 'i64' }, (v, o) => v.getBigInt64(o, true), (v, o, x) => v.setBigInt64(o, BigInt.asIntN(64, x), true));
/** XEN_GUEST_HANDLE(_64)(T) on x86_64: a user virtual address, 8 bytes, 8-aligned. */
export const handle: ScalarCType<bigint> = { ...u64, kind: 'handle' };

/** `uint8_t name[n]`: raw bytes (a copy on read; shorter input is zero-padded). */
export function bytes(n: number): CType<Uint8Array> {
  return {
    kind: `u8[${n}]`, size: n, align: 1,
    read: (v, o) => new Uint8Array(v.buffer, v.byteOffset + o, n).slice(), // a copy of n bytes (ArrayBuffer.slice was ~1 µs)
    write: (v, o, x) => {
      if (x.length > n) throw new RangeError(`${x.length} bytes do not fit a u8[${n}] field`);
      const dst = new Uint8Array(v.buffer, v.byteOffset + o, n);
      dst.fill(0);
      dst.set(x);
    },
  };
}

/** `char name[n]`: a NUL-terminated string (read stops at the first NUL; write truncates to n-1). */
export function chars(n: number): CType<string> {
  return {
    kind: `char[${n}]`, size: n, align: 1,
    read: (v, o) => {
      const raw = new Uint8Array(v.buffer, v.byteOffset + o, n);
      const end = raw.indexOf(0);
      return Buffer.from(raw.subarray(0, end < 0 ? n : end)).toString('latin1');
    },
    write: (v, o, x) => {
      const dst = new Uint8Array(v.buffer, v.byteOffset + o, n);
      dst.fill(0);
      dst.set(Buffer.from(x, 'latin1').subarray(0, n - 1));
    },
  };
}

/** `T name[n]` for a scalar or struct element type. */
export function array<O, I>(element: CType<O, I>, n: number): CType<O[], readonly I[]> {
  return {
    kind: `${element.kind}[${n}]`, size: element.size * n, align: element.align,
    read: (v, o) => Array.from({ length: n }, (_x, i) => element.read(v, o + i * element.size)),
    write: (v, o, xs) => {
      if (xs.length > n) throw new RangeError(`${xs.length} elements do not fit a ${element.kind}[${n}] field`);
      new Uint8Array(v.buffer, v.byteOffset + o, element.size * n).fill(0);
      xs.forEach((x, i) => element.write(v, o + i * element.size, x));
    },
  };
}

/**
 * An opaque region (a C union we do not decode member by member, e.g. `xen_domctl.u`):
 * `size` bytes aligned to `align`. Reads as bytes.
 */
export function opaque(size: number, align: number): CType<Uint8Array> {
  return { ...bytes(size), kind: `opaque(${size},${align})`, align };
}

/** A laid-out struct: field offsets, size, and encode/decode helpers. */
export interface Struct<F extends FieldMap> extends CType<Decoded<F>, Encodable<F>> {
  /** C name, e.g. 'xen_domctl_getdomaininfo'. */
  readonly name: string;
  /** The header (and branch) this layout mirrors. */
  readonly source: string;
  readonly fields: F;
  /** Byte offset of each field from the start of the struct. */
  readonly offsets: { readonly [K in keyof F]: number };
  /** A zeroed buffer of exactly `size` bytes with `value` written into it. */
  encode(value: Encodable<F>): Uint8Array;
  /** Decodes a struct from the start of `bytes`. */
  decode(bytes: Uint8Array): Decoded<F>;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Lays out a C struct: each field at the next offset aligned to the field's alignment,
 * the size rounded up to the largest alignment (as gcc does on x86_64 without packing).
 */
export function struct<F extends FieldMap>(name: string, source: string, fields: F): Struct<F> {
  const offsets: Record<string, number> = {};
  let offset = 0;
  let align = 1;
  for (const [key, type] of Object.entries(fields)) {
    offset = alignUp(offset, type.align);
    offsets[key] = offset;
    offset += type.size;
    align = Math.max(align, type.align);
  }
  const size = alignUp(offset, align);
  // Compiled on first use: a txl process uses a few of the ~60 structs, and compiling them all cost
  // ~0.2 s of every start in the lab's emulated dom0 (a --cpu-prof of `txl create`).
  let compiled: Pick<Struct<F>, 'read' | 'write'> | undefined;
  const accessors = (): Pick<Struct<F>, 'read' | 'write'> => (compiled ??= compileAccessors<F>(fields, offsets, size));
  const read: Struct<F>['read'] = (v, o) => accessors().read(v, o);
  const write: Struct<F>['write'] = (v, o, value) => accessors().write(v, o, value);
  return {
    kind: `struct ${name}`, name, source, fields, size, align,
    offsets: offsets as { [K in keyof F]: number },
    read, write,
    encode(value) {
      const buf = new Uint8Array(size);
      write(new DataView(buf.buffer), 0, value);
      return buf;
    },
    decode(buf) {
      if (buf.length < size) throw new RangeError(`${buf.length} bytes are too few for struct ${name} (${size})`);
      return read(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0);
    },
  };
}

/** The generic (interpreted) struct accessors: the reference the compiled ones are tested against. */
export function interpretedAccessors<F extends FieldMap>(fields: F, offsets: Readonly<Record<string, number>>, size: number): Pick<Struct<F>, 'read' | 'write'> {
  const entries = Object.entries(fields);
  return {
    read: (v, o) => {
      const out: Record<string, unknown> = {};
      for (const [key, type] of entries) out[key] = type.read(v, o + offsets[key]!);
      return out as Decoded<F>;
    },
    write: (v, o, value) => {
      new Uint8Array(v.buffer, v.byteOffset + o, size).fill(0);
      for (const [key, type] of entries) {
        const x = (value as Record<string, unknown>)[key];
        if (x !== undefined) (type as CType<unknown, unknown>).write(v, o + offsets[key]!, x);
      }
    },
  };
}

/**
 * The same accessors compiled into one function each, scalar fields as inline DataView calls at
 * constant offsets (one object literal per read): hypercall paths read and write a struct per call,
 * and the interpreted loop cost ~3 µs of a getdomaininfo's ~5 µs. Generated only from the field
 * table (names are JSON-quoted, offsets are numbers), never from outside input.
 */
function compileAccessors<F extends FieldMap>(fields: F, offsets: Readonly<Record<string, number>>, size: number): Pick<Struct<F>, 'read' | 'write'> {
  const types = Object.values(fields);
  const reads: string[] = [];
  const writes: string[] = [];
  Object.keys(fields).forEach((key, i) => {
    const k = JSON.stringify(key);
    const at = `o + ${offsets[key]!}`;
    const access = (types[i] as Partial<ScalarCType<unknown>>).access;
    if (access) {
      const le = access.get === 'getUint8' ? '' : ', true';
      const x = access.conv === 'u32' ? 'x >>> 0' : access.conv === 'u64' ? 'BigInt.asUintN(64, x)' : access.conv === 'i64' ? 'BigInt.asIntN(64, x)' : 'x';
      reads.push(`${k}: v.${access.get}(${at}${le})`);
      writes.push(`x = value[${k}]; if (x !== undefined) v.${access.set}(${at}, ${x}${le});`);
    } else {
      reads.push(`${k}: t[${i}].read(v, ${at})`);
      writes.push(`x = value[${k}]; if (x !== undefined) t[${i}].write(v, ${at}, x);`);
    }
  });
  const source = `return {
    read(v, o) { return { ${reads.join(', ')} }; },
    write(v, o, value) { new Uint8Array(v.buffer, v.byteOffset + o, ${size}).fill(0); let x; ${writes.join(' ')} },
  };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- see the doc comment: generated from the layout table only.
  return new Function('t', source)(types) as Pick<Struct<F>, 'read' | 'write'>;
}

/** Linux `_IOC(dir, type, nr, size)` (include/uapi/asm-generic/ioctl.h): dir<<30 | size<<16 | type<<8 | nr. */
export function ioc(dir: 0 | 1 | 2 | 3, type: string, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
}
/** `_IOC_NONE`: privcmd and evtchn ioctls carry no direction bits. */
export const IOC_NONE = 0;
