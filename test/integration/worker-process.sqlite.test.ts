import { factoryNamed } from '../helpers/store-factories.ts';
import { workerProcessTests } from './suites/worker-process.ts';

workerProcessTests(factoryNamed('sqlite'));
