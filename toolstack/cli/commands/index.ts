// The list of txl's subcommands, in help order. A command is listed only once it works.
import type { AnyTxlCommand } from '../command.js';
import { xenstoreCommand } from './xenstore.js';
import { readnotesCommand } from './readnotes.js';
import { listCommand } from './list.js';
import { infoCommand } from './info.js';
import { destroyCommand } from './destroy.js';
import { pauseCommand } from './pause.js';
import { unpauseCommand } from './unpause.js';
import { domidCommand } from './domid.js';
import { domnameCommand } from './domname.js';
import { uptimeCommand } from './uptime.js';
import { dmesgCommand } from './dmesg.js';
import { vcpuListCommand } from './vcpu-list.js';
import { labCommand } from './lab.js';
import { createCommand } from './create.js';
import { configCommand } from './config.js';
import { imageCommand } from './image.js';
import { templateCommand } from './template.js';
import { consoleCommand } from './console.js';
import { shutdownCommand, rebootCommand } from './shutdown.js';
import { renameCommand } from './rename.js';
import { memSetCommand, memMaxCommand } from './mem.js';
import { vcpuSetCommand } from './vcpu-set.js';
import { sysrqCommand } from './sysrq.js';
import { blockAttachCommand } from './block-attach.js';
import { blockDetachCommand } from './block-detach.js';
import { blockListCommand } from './block-list.js';
import { networkAttachCommand } from './network-attach.js';
import { networkDetachCommand } from './network-detach.js';
import { networkListCommand } from './network-list.js';

export const COMMANDS: readonly AnyTxlCommand[] = [
  createCommand,
  listCommand,
  infoCommand,
  destroyCommand,
  consoleCommand,
  shutdownCommand,
  rebootCommand,
  renameCommand,
  memSetCommand,
  memMaxCommand,
  vcpuSetCommand,
  sysrqCommand,
  blockAttachCommand,
  blockDetachCommand,
  blockListCommand,
  networkAttachCommand,
  networkDetachCommand,
  networkListCommand,
  pauseCommand,
  unpauseCommand,
  domidCommand,
  domnameCommand,
  uptimeCommand,
  dmesgCommand,
  vcpuListCommand,
  xenstoreCommand,
  readnotesCommand,
  labCommand,
  configCommand,
  imageCommand,
  templateCommand,
];
