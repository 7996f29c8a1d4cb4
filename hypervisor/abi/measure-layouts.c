/* Prints the sizes and field offsets of the Xen structs txl mirrors, as JSON, measured by gcc.
 * Build against a release's public headers (see structs.test.ts for the command); the output is
 * stored as gcc-layouts-<release>.json and compared with the declarative layouts in structs.ts. */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/domctl.h>
#include <xen/sysctl.h>
#include <xen/memory.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/sched.h>
#include <xen/version.h>

static int first_struct = 1, first_field;
#define BEGIN(name, type) do { printf("%s\n  \"%s\": {\"size\": %zu, \"fields\": {", first_struct ? "{" : ",", name, sizeof(type)); first_struct = 0; first_field = 1; } while (0)
#define F(type, field) do { printf("%s\"%s\": %zu", first_field ? "" : ", ", #field, offsetof(type, field)); first_field = 0; } while (0)
#define FN(type, name, member) do { printf("%s\"%s\": %zu", first_field ? "" : ", ", name, offsetof(type, member)); first_field = 0; } while (0)
#define END() printf("}}")

int main(void)
{
    BEGIN("xen_domctl", struct xen_domctl); F(struct xen_domctl, cmd); F(struct xen_domctl, interface_version); F(struct xen_domctl, domain); F(struct xen_domctl, u); END();
    BEGIN("xen_sysctl", struct xen_sysctl); F(struct xen_sysctl, cmd); F(struct xen_sysctl, interface_version); F(struct xen_sysctl, u); END();
#define T struct xen_domctl_createdomain
    BEGIN("xen_domctl_createdomain", T); F(T, ssidref); F(T, handle); F(T, flags); F(T, iommu_opts); F(T, max_vcpus); F(T, max_evtchn_port);
    F(T, max_grant_frames); F(T, max_maptrack_frames); F(T, grant_opts);
#ifdef XEN_DOMCTL_ALTP2M_mode_mask
    F(T, altp2m_opts);
#endif
    F(T, vmtrace_size); F(T, cpupool_id); F(T, arch); END();
#undef T
#define T struct xen_domctl_getdomaininfo
    BEGIN("xen_domctl_getdomaininfo", T); F(T, domain); F(T, flags); F(T, tot_pages); F(T, max_pages); F(T, outstanding_pages); F(T, shr_pages);
    F(T, paged_pages); F(T, shared_info_frame); F(T, cpu_time); F(T, nr_online_vcpus); F(T, max_vcpu_id); F(T, ssidref); F(T, handle);
    F(T, cpupool); F(T, gpaddr_bits); F(T, arch_config); END();
#undef T
    BEGIN("xen_domctl_max_mem", struct xen_domctl_max_mem); F(struct xen_domctl_max_mem, max_memkb); END();
    BEGIN("xen_domctl_max_vcpus", struct xen_domctl_max_vcpus); F(struct xen_domctl_max_vcpus, max); END();
    BEGIN("xen_domctl_vcpucontext", struct xen_domctl_vcpucontext); F(struct xen_domctl_vcpucontext, vcpu); F(struct xen_domctl_vcpucontext, ctxt); END();
#define T struct xen_domctl_getvcpuinfo
    BEGIN("xen_domctl_getvcpuinfo", T); F(T, vcpu); F(T, online); F(T, blocked); F(T, running); F(T, cpu_time); F(T, cpu); END();
#undef T
#define T struct xen_domctl_vcpuaffinity
    BEGIN("xen_domctl_vcpuaffinity", T); F(T, vcpu); F(T, flags); F(T, cpumap_hard); F(T, cpumap_soft); END();
#undef T
#define T struct xen_domctl_scheduler_op
    /* txl reads the union `u` as its credit2 view; credit's weight and cap sit at the same offsets. */
    BEGIN("xen_domctl_scheduler_op", T); F(T, sched_id); F(T, cmd); FN(T, "weight", u.credit2.weight); FN(T, "cap", u.credit2.cap); END();
    if (offsetof(T, u.credit.weight) != offsetof(T, u.credit2.weight) || offsetof(T, u.credit.cap) != offsetof(T, u.credit2.cap)) return 1;
#undef T
    BEGIN("xenctl_bitmap", struct xenctl_bitmap); F(struct xenctl_bitmap, bitmap); F(struct xenctl_bitmap, nr_bits); END();
    BEGIN("xen_domctl_address_size", struct xen_domctl_address_size); F(struct xen_domctl_address_size, size); END();
    BEGIN("xen_domctl_settimeoffset", struct xen_domctl_settimeoffset); F(struct xen_domctl_settimeoffset, time_offset_seconds); END();
    BEGIN("xen_domctl_hypercall_init", struct xen_domctl_hypercall_init); F(struct xen_domctl_hypercall_init, gmfn); END();
#define T struct xen_sysctl_readconsole
    BEGIN("xen_sysctl_readconsole", T); F(T, clear); F(T, incremental); F(T, index); F(T, buffer); F(T, count); END();
#undef T
#define T struct xen_sysctl_physinfo
    BEGIN("xen_sysctl_physinfo", T); F(T, threads_per_core); F(T, cores_per_socket); F(T, nr_cpus); F(T, max_cpu_id); F(T, nr_nodes);
    F(T, max_node_id); F(T, cpu_khz); F(T, capabilities); F(T, arch_capabilities); F(T, total_pages); F(T, free_pages); F(T, scrub_pages);
    F(T, outstanding_pages); F(T, max_mfn); F(T, hw_cap); END();
#undef T
#define T struct xen_sysctl_getdomaininfolist
    BEGIN("xen_sysctl_getdomaininfolist", T); F(T, first_domain); F(T, max_domains); F(T, buffer); F(T, num_domains); END();
#undef T
    BEGIN("xen_sysctl_sched_id", struct xen_sysctl_sched_id); F(struct xen_sysctl_sched_id, sched_id); END();
#define T struct xen_sysctl_cpupool_op
    BEGIN("xen_sysctl_cpupool_op", T); F(T, op); F(T, cpupool_id); F(T, sched_id); F(T, domid); F(T, cpu); F(T, n_dom); F(T, cpumap); END();
#undef T
#define T struct xen_memory_reservation
    BEGIN("xen_memory_reservation", T); F(T, extent_start); F(T, nr_extents); F(T, extent_order); F(T, mem_flags); F(T, domid); END();
#undef T
    BEGIN("evtchn_alloc_unbound", struct evtchn_alloc_unbound); F(struct evtchn_alloc_unbound, dom); F(struct evtchn_alloc_unbound, remote_dom); F(struct evtchn_alloc_unbound, port); END();
    BEGIN("evtchn_close", struct evtchn_close); F(struct evtchn_close, port); END();
#define T struct gnttab_setup_table
    BEGIN("gnttab_setup_table", T); F(T, dom); F(T, nr_frames); F(T, status); F(T, frame_list); END();
#undef T
    BEGIN("grant_entry_v1", struct grant_entry_v1); F(struct grant_entry_v1, flags); F(struct grant_entry_v1, domid); F(struct grant_entry_v1, frame); END();
    BEGIN("sched_remote_shutdown", struct sched_remote_shutdown); F(struct sched_remote_shutdown, domain_id); F(struct sched_remote_shutdown, reason); END();
    BEGIN("mmuext_op", struct mmuext_op); F(struct mmuext_op, cmd); F(struct mmuext_op, arg1); F(struct mmuext_op, arg2); END();
#define T struct xen_compile_info
    BEGIN("xen_compile_info", T); F(T, compiler); F(T, compile_by); F(T, compile_domain); F(T, compile_date); END();
#undef T
    BEGIN("xen_platform_parameters", struct xen_platform_parameters); F(struct xen_platform_parameters, virt_start); END();
#define T struct cpu_user_regs
    BEGIN("cpu_user_regs", T); F(T, r15); F(T, rbp); F(T, rax); F(T, rsi); F(T, rdi); F(T, error_code); F(T, entry_vector); F(T, rip); F(T, cs);
    F(T, saved_upcall_mask); F(T, rflags); F(T, rsp); F(T, ss); F(T, es); F(T, ds); F(T, fs); F(T, gs); END();
#undef T
    BEGIN("trap_info", struct trap_info); F(struct trap_info, vector); F(struct trap_info, flags); F(struct trap_info, cs); F(struct trap_info, address); END();
#define T struct vcpu_guest_context
    BEGIN("vcpu_guest_context", T); F(T, fpu_ctxt); F(T, flags); F(T, user_regs); F(T, trap_ctxt); F(T, ldt_base); F(T, ldt_ents); F(T, gdt_frames);
    F(T, gdt_ents); F(T, kernel_ss); F(T, kernel_sp); F(T, ctrlreg); F(T, debugreg); F(T, event_callback_eip); F(T, failsafe_callback_eip);
    F(T, syscall_callback_eip); F(T, vm_assist); F(T, fs_base); F(T, gs_base_kernel); F(T, gs_base_user); END();
#undef T
    printf("\n}\n");
    return 0;
}
