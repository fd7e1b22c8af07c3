// A group without `listen`: a process for timers and background jobs.
let ticks = 0;
module.exports = {
  onWorkerStart(worker) {
    worker.timers.add(60, () => {
      ticks++;
      console.log(`ticker: ${ticks} minute(s) up`);
    });
  },
};
