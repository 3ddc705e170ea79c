import { factoryNamed } from '../helpers/store-factories.ts';
import { hostsTests } from './suites/hosts.ts';

hostsTests(factoryNamed('sqlite'));
