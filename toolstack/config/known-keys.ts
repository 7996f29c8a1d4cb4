// Every key Xen 4.17's xl reads from an xl.cfg (xl_parse.c's xlu_cfg_get_* calls) or documents in xl.cfg(5).
// Keys outside this list are warned about with the nearest one (xl ignores them silently).

/** Keys xl 4.17 knows. */
export const KNOWN_XL_KEYS: ReadonlySet<string> = new Set([
  'acpi', 'acpi_firmware', 'acpi_laptop_slate', 'acpi_s3', 'acpi_s4', 'altp2m', 'altp2mhvm', 'apic', 'backend',
  'bios', 'bios_path_override', 'boot', 'bootloader', 'bootloader_args', 'builder', 'cap', 'channel', 'cmdline',
  'connection', 'controller', 'cpu_weight', 'cpuid', 'cpus', 'cpus_soft', 'device_model', 'device_model_args',
  'device_model_args_hvm', 'device_model_args_pv', 'device_model_override', 'device_model_stubdomain_override',
  'device_model_stubdomain_seclabel', 'device_model_user', 'device_model_version', 'device_tree', 'disk', 'display',
  'dm_restrict', 'driver_domain', 'dtdev', 'e820_host', 'extra', 'extratime', 'firmware', 'firmware_override',
  'gfx_passthru', 'gic_version', 'hap', 'hdtype', 'height', 'hostaddr', 'hostbus', 'hpet', 'init_seclabel', 'iomem',
  'ioports', 'irqs', 'kernel', 'keymap', 'latency', 'localtime', 'max_event_channels', 'max_grant_frames',
  'max_grant_version', 'max_maptrack_frames', 'maxmem', 'maxvcpus', 'mca_caps', 'memory', 'mmio_hole', 'ms_vm_genid',
  'msr_relaxed', 'name', 'nestedhvm', 'nographic', 'nomigrate', 'nx', 'on_crash', 'on_poweroff', 'on_reboot',
  'on_soft_reset', 'on_watchdog', 'oos', 'opengl', 'p9', 'pae', 'passthrough', 'path', 'pci', 'pci_msitranslate',
  'pci_permissive', 'pci_power_mgmt', 'pci_seize', 'period', 'policy', 'pool', 'port', 'ports', 'pvcalls',
  'pvshim', 'pvshim_cmdline', 'pvshim_extra', 'pvshim_path', 'ramdisk', 'rdm', 'rdm_mem_boundary', 'root',
  'rtc_timeoffset', 'sdl', 'seclabel', 'security_model', 'serial', 'shadow_memory', 'slice',
  'smbios_firmware', 'soundhw', 'spice', 'spice_clipboard_sharing', 'spice_image_compression',
  'spice_streaming_video', 'spiceagent_mouse', 'spicedisable_ticketing', 'spicehost', 'spicepasswd', 'spiceport',
  'spicetls_port', 'spiceusbredirection', 'spicevdagent', 'stdvga', 'strategy', 'stubdomain_cmdline',
  'stubdomain_kernel', 'stubdomain_memory', 'stubdomain_ramdisk', 'tag', 'tee', 'timer_mode', 'tsc_mode', 'type',
  'usb', 'usbctrl', 'usbdev', 'usbdevice', 'usbversion', 'uuid', 'vcpus', 'vdispl', 'vendor_device',
  'version', 'vfb', 'vga', 'videoram', 'vif', 'vif2', 'viridian', 'vkb', 'vkb_device', 'vmtrace_buf_kb', 'vnc',
  'vncdisplay', 'vnclisten', 'vncpasswd', 'vncunused', 'vncviewer', 'vnuma', 'vpmu', 'vpt_align', 'vsnd', 'vtpm',
  'vuart', 'width', 'xauthority', 'xen_platform_pci', 'xend_suspend_evtchn_compat',
]);
