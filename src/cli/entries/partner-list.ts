import * as partnerList from "../commands/partner/list.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  partner: group("partner", partnerList.register),
};
