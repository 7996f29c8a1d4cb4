// Linux Xen device ioctls (privcmd, evtchn): argument structs and request numbers.
// Mirrors Linux include/uapi/xen/privcmd.h and include/uapi/xen/evtchn.h (Xen's copy:
// tools/include/xen-sys/Linux/{privcmd,evtchn}.h; Debian: /usr/include/xen/sys/).
import { array, handle, IOC_NONE, ioc, struct, u16, u32, u64 } from './layout.js';

const PRIVCMD_H = 'linux include/uapi/xen/privcmd.h';
const EVTCHN_H = 'linux include/uapi/xen/evtchn.h';

/** `struct privcmd_hypercall { __u64 op; __u64 arg[5]; }` (48 bytes). */
export const privcmd_hypercall = struct('privcmd_hypercall', PRIVCMD_H, { op: u64, arg: array(u64, 5) });

/** `struct privcmd_mmapbatch_v2 { unsigned num; domid_t dom; __u64 addr; const xen_pfn_t *arr; int *err; }`. */
export const privcmd_mmapbatch_v2 = struct('privcmd_mmapbatch_v2', PRIVCMD_H, {
  num: u32,
  dom: u16,
  addr: u64,
  arr: handle,
  err: handle,
});

/** `struct privcmd_mmap_resource { domid_t dom; __u32 type, id, idx; __u64 num, addr; }`. */
export const privcmd_mmap_resource = struct('privcmd_mmap_resource', PRIVCMD_H, {
  dom: u16,
  type: u32,
  id: u32,
  idx: u32,
  num: u64,
  addr: u64,
});

/** privcmd request numbers: `_IOC(_IOC_NONE, 'P', nr, sizeof(arg))`. */
export const IOCTL_PRIVCMD_HYPERCALL = ioc(IOC_NONE, 'P', 0, privcmd_hypercall.size);
export const IOCTL_PRIVCMD_MMAPBATCH_V2 = ioc(IOC_NONE, 'P', 4, privcmd_mmapbatch_v2.size);
export const IOCTL_PRIVCMD_MMAP_RESOURCE = ioc(IOC_NONE, 'P', 7, privcmd_mmap_resource.size);

/** `struct ioctl_evtchn_bind_interdomain { unsigned remote_domain, remote_port; }`. */
export const evtchn_bind_interdomain = struct('ioctl_evtchn_bind_interdomain', EVTCHN_H, { remote_domain: u32, remote_port: u32 });
/** `struct ioctl_evtchn_bind_unbound_port { unsigned remote_domain; }`. */
export const evtchn_bind_unbound_port = struct('ioctl_evtchn_bind_unbound_port', EVTCHN_H, { remote_domain: u32 });
/** `struct ioctl_evtchn_unbind { unsigned port; }` (also the layout of `ioctl_evtchn_notify`). */
export const evtchn_port_arg = struct('ioctl_evtchn_unbind', EVTCHN_H, { port: u32 });

/** evtchn request numbers: `_IOC(_IOC_NONE, 'E', nr, sizeof(arg))`. */
export const IOCTL_EVTCHN_BIND_INTERDOMAIN = ioc(IOC_NONE, 'E', 1, evtchn_bind_interdomain.size);
export const IOCTL_EVTCHN_BIND_UNBOUND_PORT = ioc(IOC_NONE, 'E', 2, evtchn_bind_unbound_port.size);
export const IOCTL_EVTCHN_UNBIND = ioc(IOC_NONE, 'E', 3, evtchn_port_arg.size);
export const IOCTL_EVTCHN_NOTIFY = ioc(IOC_NONE, 'E', 4, evtchn_port_arg.size);
