/**
 * Names for services created without one, as Docker names them: an adjective and a noun
 * (`brave-nautilus`), drawn at random, unique among the cluster's services. Joined by "-"
 * rather than Docker's "_": a shoal service name is a DNS label (spec-validation.ts), and
 * "_" is not allowed in one.
 *
 * The caller checks uniqueness inside the create's own transaction, so a name chosen here
 * cannot be taken between the check and the write. A pair that is taken is drawn again;
 * after MAX_PLAIN_ATTEMPTS draws a number is appended (`brave-nautilus-7`), so a cluster
 * with most pairs in use still gets a name in a few draws.
 */
import { randomInt } from 'node:crypto';

/** Words of the sea and its creatures; every combination is a valid DNS label. */
export const NAME_ADJECTIVES: readonly string[] = Object.freeze([
  'abyssal',
  'amber',
  'azure',
  'briny',
  'brisk',
  'calm',
  'coral',
  'deep',
  'drifting',
  'foamy',
  'gentle',
  'gliding',
  'glowing',
  'golden',
  'hidden',
  'inky',
  'misty',
  'nimble',
  'pearly',
  'quiet',
  'restless',
  'rippling',
  'rolling',
  'salty',
  'sandy',
  'shimmering',
  'silver',
  'sleek',
  'speckled',
  'spiny',
  'steady',
  'striped',
  'sunlit',
  'swift',
  'tidal',
  'tranquil',
  'turquoise',
  'wandering',
  'wavy',
  'windswept',
]);

export const NAME_NOUNS: readonly string[] = Object.freeze([
  'albatross',
  'anchovy',
  'barnacle',
  'barracuda',
  'beluga',
  'clam',
  'cod',
  'conch',
  'cormorant',
  'crab',
  'cuttlefish',
  'dolphin',
  'dugong',
  'eel',
  'flounder',
  'grouper',
  'gull',
  'halibut',
  'herring',
  'jellyfish',
  'kelp',
  'krill',
  'limpet',
  'lobster',
  'mackerel',
  'manatee',
  'marlin',
  'mussel',
  'narwhal',
  'nautilus',
  'octopus',
  'orca',
  'otter',
  'oyster',
  'pelican',
  'plankton',
  'porpoise',
  'puffin',
  'ray',
  'reef',
  'sardine',
  'scallop',
  'seahorse',
  'seal',
  'shrimp',
  'snapper',
  'squid',
  'starfish',
  'sturgeon',
  'tern',
  'triggerfish',
  'tuna',
  'turtle',
  'urchin',
  'walrus',
  'whale',
  'wrasse',
]);

/** Draws of a plain adjective-noun pair before a number is appended. */
const MAX_PLAIN_ATTEMPTS = 10;
/** Draws in all; the names run out only with millions of services. */
const MAX_ATTEMPTS = 1000;

/** A random integer in [0, n). */
export type PickInt = (n: number) => number;

/**
 * A service name no service has (`isTaken` answers from the create's transaction);
 * undefined only if every draw was taken, which the caller reports as an error.
 */
export function generateServiceName(isTaken: (name: string) => boolean, pick: PickInt = randomInt): string | undefined {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const adjective = NAME_ADJECTIVES[pick(NAME_ADJECTIVES.length)] as string;
    const noun = NAME_NOUNS[pick(NAME_NOUNS.length)] as string;
    let name = `${adjective}-${noun}`;
    if (attempt >= MAX_PLAIN_ATTEMPTS) name += `-${pick(attempt < 100 ? 10 : 1000)}`;
    if (!isTaken(name)) return name;
  }
  return undefined;
}
