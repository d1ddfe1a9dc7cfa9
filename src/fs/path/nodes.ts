// The nodeid <-> path table of the path API, as libfuse's high-level API keeps one: the kernel
// speaks of nodeids, the filesystem of paths. Each node remembers the names it is reachable by
// (several for a hard-linked file), so its path is computed on demand by walking up to the root:
// a renamed directory moves every path below it at once. Names are kept as their bytes, because
// Linux names need not be UTF-8.
import { FuseError } from '../errors';

export const ROOT_NODEID = 1;

interface Alias {
  parent: PathNode;
  /** The name's bytes, and their latin1 string: a one-to-one key for the parent's map. */
  name: Buffer;
  key: string;
}

export class PathNode {
  /** LOOKUP references the kernel holds: the node leaves the table when FORGET brings it to 0. */
  nlookup = 0;
  readonly aliases: Alias[] = [];
  readonly children = new Map<string, PathNode>();
  /** The last path the node had, kept for the operations on its open files once it is unlinked. */
  lastPath: Buffer | undefined;

  constructor(readonly nodeid: number, public ino: number | undefined, readonly isDir: boolean) {}
}

const SLASH = Buffer.from('/');

export class NodeTable {
  readonly root = new PathNode(ROOT_NODEID, undefined, true);
  private readonly byId = new Map<number, PathNode>([[ROOT_NODEID, this.root]]);
  /** Files the filesystem gave inode numbers, so that hard links are one node (directories never are). */
  private readonly byIno = new Map<number, PathNode>();
  private nextId = ROOT_NODEID + 1;

  constructor() {
    this.root.nlookup = 1; // never forgotten
  }

  /** Number of nodes the kernel knows besides the root. */
  get size(): number {
    return this.byId.size - 1;
  }

  get(nodeid: number): PathNode {
    const node = this.byId.get(nodeid);
    // The kernel only names nodes it was given and has not forgotten.
    if (node === undefined) throw new FuseError('ESTALE', `unknown nodeid ${nodeid}`);
    return node;
  }

  /** The node's current path, or undefined once it has no name (unlinked, or replaced behind our back). */
  path(node: PathNode): Buffer | undefined {
    if (node === this.root) return SLASH;
    const parts: Buffer[] = [];
    for (let n: PathNode = node; n !== this.root;) {
      const alias = n.aliases[0];
      if (alias === undefined) return undefined;
      parts.push(alias.name, SLASH);
      n = alias.parent;
    }
    return Buffer.concat(parts.reverse());
  }

  child(parent: PathNode, name: Buffer): PathNode | undefined {
    return parent.children.get(name.toString('latin1'));
  }

  /**
   * The node `parent/name` now stands for, according to attributes just read for it: the one
   * already there, or another name of the same file (same `ino`, not a directory), or a new
   * node. The caller takes the lookup reference (nlookup++) once the kernel has the answer,
   * or calls drop() when it never gets it.
   */
  found(parent: PathNode, name: Buffer, ino: number | undefined, isDir: boolean): PathNode {
    const key = name.toString('latin1');
    let node = parent.children.get(key);
    if (node !== undefined && (node.isDir !== isDir || (ino !== undefined && node.ino !== undefined && node.ino !== ino))) {
      // The name now holds another file (changed behind the mount's back).
      this.unname(node, parent, key);
      node = undefined;
    }
    if (node === undefined && ino !== undefined && !isDir) {
      node = this.byIno.get(ino);
      if (node !== undefined) this.name(node, parent, name, key);
    }
    if (node === undefined) {
      node = new PathNode(this.nextId++, ino, isDir);
      this.byId.set(node.nodeid, node);
      this.name(node, parent, name, key);
    }
    if (ino !== undefined && node.ino === undefined) node.ino = ino;
    if (node.ino !== undefined && !isDir && !this.byIno.has(node.ino)) this.byIno.set(node.ino, node);
    return node;
  }

  /** Undoes found() for a node no reply gave the kernel (nlookup still 0). */
  drop(node: PathNode): void {
    if (node.nlookup === 0) this.remove(node);
  }

  forget(nodeid: number, nlookup: number): void {
    const node = this.byId.get(nodeid);
    if (node === undefined || node === this.root) return;
    node.nlookup -= nlookup;
    if (node.nlookup <= 0) this.remove(node);
  }

  /** UNLINK / RMDIR succeeded: `parent/name` is gone. */
  removed(parent: PathNode, name: Buffer): void {
    const key = name.toString('latin1');
    const node = parent.children.get(key);
    if (node !== undefined) this.unname(node, parent, key);
  }

  /** RENAME succeeded (`exchange`: RENAME_EXCHANGE, both names swapped their files). */
  renamed(parent: PathNode, name: Buffer, newParent: PathNode, newName: Buffer, exchange: boolean): void {
    const key = name.toString('latin1');
    const newKey = newName.toString('latin1');
    const moved = parent.children.get(key);
    const over = newParent.children.get(newKey);
    // Two names of one file: rename(2) does nothing.
    if (moved !== undefined && moved === over) return;
    if (moved !== undefined) this.unname(moved, parent, key, false);
    if (over !== undefined) this.unname(over, newParent, newKey, !exchange);
    if (moved !== undefined) this.name(moved, newParent, newName, newKey);
    if (over !== undefined && exchange) this.name(over, parent, name, key);
  }

  private name(node: PathNode, parent: PathNode, name: Buffer, key: string): void {
    node.aliases.push({ parent, name, key });
    parent.children.set(key, node);
  }

  /** Takes one name from a node; `orphan`: when it was the last, the file is gone from the tree. */
  private unname(node: PathNode, parent: PathNode, key: string, orphan = true): void {
    const i = node.aliases.findIndex((a) => a.parent === parent && a.key === key);
    if (i < 0) return;
    if (orphan && node.aliases.length === 1) node.lastPath = this.path(node);
    node.aliases.splice(i, 1);
    if (parent.children.get(key) === node) parent.children.delete(key);
    // A later file given the same inode number must not be taken for this one.
    if (orphan && node.aliases.length === 0 && node.ino !== undefined && this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
  }

  private remove(node: PathNode): void {
    this.byId.delete(node.nodeid);
    for (const a of node.aliases.splice(0)) {
      if (a.parent.children.get(a.key) === node) a.parent.children.delete(a.key);
    }
    if (node.ino !== undefined && this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
  }
}
