// /dev/xen/evtchn: bind, notify, unbind, and wait for events on the Node event loop without a thread
// (koffi.node.poll on the fd; pending ports are read, then written back to unmask them).
import { closeSync, openSync, readSync, writeSync, constants as fsConstants } from 'node:fs';
import {
  IOCTL_EVTCHN_BIND_INTERDOMAIN, IOCTL_EVTCHN_BIND_UNBOUND_PORT, IOCTL_EVTCHN_NOTIFY, IOCTL_EVTCHN_UNBIND,
  evtchn_bind_interdomain, evtchn_bind_unbound_port, evtchn_port_arg,
} from '../abi/linux.js';
import { HypervisorError, errnoName, hypercallError } from '../errors.js';
import type { EventChannelDevice } from '../hypervisor.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, loadFfi, type Ffi, type FdPoller } from './ffi.js';

/** The evtchn device of this dom0. Open with openEventChannels(). */
export class PrivcmdEventChannels implements EventChannelDevice {
  private readonly pending: number[] = [];
  private readonly waiters: ((port: number) => void)[] = [];
  private poller: FdPoller | undefined;
  private closed = false;

  private constructor(
    private readonly ffi: Ffi,
    private readonly fd: number,
    /** One private page for ioctl arguments. */
    private readonly argAddr: bigint,
    private readonly argView: DataView,
  ) {}

  /** Opens /dev/xen/evtchn (TXL_HV_NO_XEN without it, TXL_HV_EPERM when not root). */
  static async open(): Promise<PrivcmdEventChannels> {
    let fd: number;
    try {
      fd = openSync('/dev/xen/evtchn', fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new HypervisorError('TXL_HV_EPERM', 'permission denied opening /dev/xen/evtchn: txl must run as root in dom0', { errno: code, hint: 'Run it with sudo.' });
      }
      throw new HypervisorError('TXL_HV_NO_XEN', `cannot open /dev/xen/evtchn (${code ?? 'error'}): not a Xen dom0, or xen-evtchn is not loaded`, {
        errno: code ?? 'ENOENT', cause: error, hint: 'Load it with modprobe xen-evtchn.',
      });
    }
    const ffi = await loadFfi();
    const page = ffi.mmap(4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!page.ok) {
      closeSync(fd);
      throw new HypervisorError('TXL_HV_HYPERCALL', `mmap for evtchn ioctl arguments failed: ${errnoName(page.errno)}`);
    }
    // FFI: the page stays mapped until close(); only this object uses it, one ioctl at a time.
    return new PrivcmdEventChannels(ffi, fd, page.value, new DataView(ffi.view(page.value, 4096)));
  }

  private ioctl(what: string, request: number, fill: (view: DataView) => void): number {
    if (this.closed) throw new HypervisorError('TXL_HV_EINVAL', `${what}: the event channel device is closed`);
    new Uint8Array(this.argView.buffer, 0, 64).fill(0);
    fill(this.argView);
    // FFI: argAddr is our own mapped page holding the argument struct.
    const r = this.ffi.ioctl(this.fd, request, this.argAddr);
    if (!r.ok) throw hypercallError(what, r.errno);
    return r.value;
  }

  bindInterdomain(remoteDomid: number, remotePort: number): number {
    return this.ioctl(`evtchn bind_interdomain(${remoteDomid}, ${remotePort})`, IOCTL_EVTCHN_BIND_INTERDOMAIN,
      (v) => evtchn_bind_interdomain.write(v, 0, { remote_domain: remoteDomid, remote_port: remotePort }));
  }

  bindUnboundPort(remoteDomid: number): number {
    return this.ioctl(`evtchn bind_unbound_port(${remoteDomid})`, IOCTL_EVTCHN_BIND_UNBOUND_PORT,
      (v) => evtchn_bind_unbound_port.write(v, 0, { remote_domain: remoteDomid }));
  }

  unbind(port: number): void {
    this.ioctl(`evtchn unbind(${port})`, IOCTL_EVTCHN_UNBIND, (v) => evtchn_port_arg.write(v, 0, { port }));
  }

  notify(port: number): void {
    this.ioctl(`evtchn notify(${port})`, IOCTL_EVTCHN_NOTIFY, (v) => evtchn_port_arg.write(v, 0, { port }));
  }

  /** Reads every pending port (the fd is non-blocking), unmasks each, and hands them out. */
  private drain(): void {
    const buf = Buffer.alloc(4 * 64);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, buf, 0, buf.length, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw error;
      }
      if (n <= 0) return;
      for (let i = 0; i + 4 <= n; i += 4) {
        const port = buf.readUInt32LE(i);
        writeSync(this.fd, buf, i, 4); // unmask
        const waiter = this.waiters.shift();
        if (waiter) waiter(port);
        else this.pending.push(port);
      }
    }
  }

  /** The next port that fires (events are queued in order; the port is already unmasked). */
  next(): Promise<number> {
    const queued = this.pending.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(new HypervisorError('TXL_HV_EINVAL', 'the event channel device is closed'));
    this.poller ??= this.ffi.pollReadable(this.fd, () => this.drain());
    this.poller.ref();
    return new Promise((resolve) => {
      this.waiters.push((port) => {
        if (this.waiters.length === 0) this.poller?.unref();
        resolve(port);
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.poller?.close();
    this.ffi.munmap(this.argAddr, 4096);
    closeSync(this.fd);
  }
}
