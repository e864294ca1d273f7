import type { Command } from 'commander';
import { cleanLabelBackdoorEntry, featureCollisionEntry } from '../../attacks/registry.js';
import { registerAttackEntries } from './attack.js';

/**
 * `antidote attack feature-collision` (Shafahi et al. 2018) and `antidote attack
 * clean-label-backdoor` (Turner et al. 2019): clean-label attacks that need the victim's (or a
 * surrogate) model. They add themselves to the `attack` group (registered before or not); both
 * are entries of the attack registry, so `registerAttackCommand` registers them too.
 */
export function registerCleanLabelAttackCommands(program: Command): void {
  registerAttackEntries(program, [featureCollisionEntry, cleanLabelBackdoorEntry]);
}
