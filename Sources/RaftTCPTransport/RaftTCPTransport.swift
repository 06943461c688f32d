import Raft
