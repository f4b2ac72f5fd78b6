/** What each of the swap's steps does to the inventory when it completes (eid-device-swap.txt). */
import type { SwapStep } from '../../../contracts/types.js';
import { hasLine } from '../../platform/devices/inventory.js';
import type { SwapDeps, SwapRecord } from './types.js';

/** What each completed step does to the inventory; a step whose device was replaced meanwhile does nothing. */
export function applyStep(deps: SwapDeps, record: SwapRecord, step: SwapStep): void {
  const at = new Date(deps.now()).toISOString();
  const out = deps.inventory.byNumber(record.swapOut.deviceNumber);
  switch (step) {
    case 'deactivation': {
      // "ChangeDeviceState Deactivation when the original ICCID is deactivated."
      if (!out) return;
      deps.acted.record(out, record.requestId);
      if (out.iccid === record.swapOut.iccid) {
        out.state = 'deactive';
        out.connected = false;
      } else {
        const line = out.retiredLines.find((l) => l.iccid === record.swapOut.iccid);
        if (line) line.state = 'deactive';
      }
      return;
    }
    case 'identifierChange': {
      // "ChangeDeviceIdentifer when the original MDN is transferred to the newly installed device."
      const into = deps.inventory.byNumber(record.swapIn.deviceNumber);
      if (!into) return;
      deps.acted.record(into, record.requestId);
      if (hasLine(into.state)) {
        // "If the device has an active line of service, that line will be deactivated" first.
        into.retiredLines.push({
          iccid: into.iccid,
          ...(into.mdn ? { mdn: into.mdn } : {}),
          state: 'deactive',
          servicePlan: into.servicePlan,
          retiredAt: at,
        });
      }
      if (out && out.mdn === record.swapOut.mdn) delete out.mdn;
      into.mdn = record.swapOut.mdn;
      into.servicePlan = record.swapOut.servicePlan;
      into.smsrOid = record.smsrOid;
      into.state = 'active';
      into.connected = true;
      into.lastActivationDate = at;
      return;
    }
    case 'goToState': {
      // "GoToState when the new line of service is activated on the swapped-out device."
      if (!out) return;
      deps.acted.record(out, record.requestId);
      // The line being replaced is kept as a retired one, also when a repeated swap replaces a new line.
      if (!out.retiredLines.some((l) => l.iccid === out.iccid)) {
        out.retiredLines.push({
          iccid: out.iccid,
          ...(out.mdn ? { mdn: out.mdn } : {}),
          state: out.state,
          servicePlan: out.servicePlan,
          retiredAt: at,
        });
      }
      out.iccid = record.newLine.iccid;
      out.mdn = record.newLine.mdn;
      out.state = 'active';
      out.connected = true;
      out.servicePlan = record.servicePlan;
      out.serviceName = record.serviceName;
      out.stateName = record.stateName;
      out.lastActivationDate = at;
      return;
    }
  }
}
