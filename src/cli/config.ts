import { loadConfig, resolveConfigPath } from '../config/load.js';
import { formatProblem, type ConfigProblem, type LoomConfig } from '../config/types.js';

export class ConfigInvalid extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

/** Loads and validates config.ini; throws ConfigInvalid listing every problem. */
export function configFor(explicit: string | undefined): LoomConfig {
  const file = resolveConfigPath(explicit);
  const { config, problems } = loadConfig(file);
  if (!config) throw new ConfigInvalid(problems);
  return config;
}
