// @niivue/dcm2niix ships no type declarations; this is the part of its API the ingest worker uses.
declare module '@niivue/dcm2niix' {
  interface Dcm2niixProcessor {
    bids(v: 'y' | 'n' | 'o'): Dcm2niixProcessor;
    bidsAnonymize(v: 'y' | 'n'): Dcm2niixProcessor;
    gzip(v: 'y' | 'o' | 'i' | 'n' | '3'): Dcm2niixProcessor;
    filenameformat(v: string): Dcm2niixProcessor;
    ignoreDerived(v: 'y' | 'n'): Dcm2niixProcessor;
    merge2DSlices(v: string): Dcm2niixProcessor;
    verbose(v: string): Dcm2niixProcessor;
    run(): Promise<File[]>;
  }
  export class Dcm2niix {
    worker: Worker | null;
    init(): Promise<boolean>;
    input(files: ArrayLike<File> | File[]): Dcm2niixProcessor;
  }
}
