// The service's races: the implementation (hedge/race_impl.hpp) compiled for
// the service's clock.

#include "smart/hedge/race_impl.hpp"

namespace smart::hedge {

template class basic_race_workspace<clock>;
template net::awaitable<race_result> decide_race<clock>(race_workspace&, policy, time_point,
                                                        time_point, const attempt_fn&, race_stats&,
                                                        const client_watch*, hedge_tuning*);
template net::awaitable<void> finish_race<clock>(race_workspace&);
template net::awaitable<race_result> run_race<clock>(race_workspace&, policy, time_point,
                                                     time_point, const attempt_fn&, race_stats&,
                                                     const client_watch*);

}  // namespace smart::hedge
