import { invalidField } from "../errors/sanpath-error.js";
import { subnetByNumber, type ClusterSettings, type IscsiSubnet } from "./cluster-settings.js";
import { dataMissing } from "./domain-errors.js";

/** Which iSCSI subnet(s) a disk's paths take their addresses from. */
export type SubnetChoice = "subnet1" | "subnet2" | "both";

/** The proto SubnetChoice enum values (0 = unspecified). */
const CHOICE_BY_CODE: ReadonlyMap<number, SubnetChoice> = new Map([
  [1, "subnet1"],
  [2, "subnet2"],
  [3, "both"],
]);

export function subnetChoiceCode(choice: SubnetChoice): number {
  return choice === "subnet1" ? 1 : choice === "subnet2" ? 2 : 3;
}

/** The subnets a choice draws from, in the order paths alternate over them. */
export function subnetsOfChoice(
  settings: ClusterSettings,
  choice: SubnetChoice,
  field: string,
): IscsiSubnet[] {
  const wanted =
    choice === "subnet1" ? [1 as const] : choice === "subnet2" ? [2 as const] : [1 as const, 2 as const];
  return wanted.map((number) => {
    const subnet = subnetByNumber(settings, number);
    if (subnet === undefined) {
      throw invalidField(
        field,
        `iSCSI subnet ${number} is not configured (set it with sanpath cluster init)`,
      );
    }
    return subnet;
  });
}

/**
 * Reads the proto enum value: 0 is DATA_MISSING, an unknown value INVALID_FIELD, and a choice that
 * needs subnet 2 when the cluster has none is INVALID_FIELD too.
 */
export function parseSubnetChoice(code: number, settings: ClusterSettings, field = "subnet"): SubnetChoice {
  if (code === 0) throw dataMissing(field, "the subnet choice (1, 2 or both)");
  const choice = CHOICE_BY_CODE.get(code);
  if (choice === undefined) throw invalidField(field, `${code} is not a subnet choice: 1, 2 or 3 (both)`);
  subnetsOfChoice(settings, choice, field);
  return choice;
}
